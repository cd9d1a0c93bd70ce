# The shape of Packer's "Build an image" AWS tutorial.
packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.8"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "region" {
  type    = string
  default = "us-west-2"
}

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
}

data "amazon-ami" "ubuntu" {
  filters = {
    name                = "ubuntu/images/*ubuntu-jammy-22.04-amd64-server-*"
    root-device-type    = "ebs"
    virtualization-type = "hvm"
  }
  most_recent = true
  owners      = ["099720109477"]
}

source "amazon-ebs" "ubuntu" {
  ami_name      = "learn-packer-linux-aws-${local.timestamp}"
  instance_type = "t2.micro"
  region        = var.region
  source_ami    = data.amazon-ami.ubuntu.id
  ssh_username  = "ubuntu"
  tags = {
    OS_Version    = "Ubuntu"
    Release       = "Latest"
    Base_AMI_Name = "{{ .SourceAMIName }}"
  }
}

build {
  name = "learn-packer"
  sources = [
    "source.amazon-ebs.ubuntu",
  ]

  source "amazon-ebs.ubuntu" {
    name     = "ubuntu-east"
    region   = "us-east-1"
    ami_name = "learn-packer-linux-aws-east-${local.timestamp}"
  }

  provisioner "shell" {
    environment_vars = [
      "FOO=hello world",
    ]
    inline = [
      "echo Installing Redis",
      "sleep 30",
      "sudo apt-get update",
      "sudo apt-get install -y redis-server",
      "echo \"FOO is $FOO\" > example.txt",
    ]
    pause_before = "10s"
    max_retries  = 3
    timeout      = "5m"
  }

  provisioner "shell" {
    inline = ["echo This provisioner runs last"]
    except = ["amazon-ebs.ubuntu-east"]
  }

  post-processor "manifest" {
    output     = "manifest.json"
    strip_path = true
  }
}
