packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.8"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

source "amazon-ebs" "golden" {
  region        = "eu-west-1"
  instance_type = "t3.micro"
  ami_name      = "golden-{{timestamp}}"
  ssh_username  = "admin"
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    most_recent = true
    owners      = ["136693071363"]
  }
  tags = {
    Name      = "golden"
    Base      = "{{ .SourceAMI }}"
    BaseName  = "{{ .SourceAMIName }}"
    BuildRegion = "{{ .BuildRegion }}"
  }
}

build {
  sources = ["source.amazon-ebs.golden"]

  provisioner "shell" {
    inline = ["sudo apt-get update"]
  }
}
