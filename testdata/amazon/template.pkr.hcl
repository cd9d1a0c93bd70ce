# An amazon-ebs build in the shape of Packer's examples, run by
# builder/amazon's TestBakeBuild against the EC2 test server
# (internal/ec2test): the endpoint and the SSH port of the test's sshd come
# in as variables. Against real AWS, drop custom_endpoint_ec2, the keys and
# ssh_port, and use ssh_username = "admin".

variable "endpoint" {
  type = string
}

variable "ssh_port" {
  type = number
}

variable "test_exit" {
  type    = number
  default = 0
}

variable "marker" {
  type    = string
  default = "/tmp/bake-amazon-marker"
}

data "amazon-ami" "debian" {
  filters = {
    name                = "debian-12-amd64-*"
    virtualization-type = "hvm"
  }
  owners              = ["136693071363"]
  most_recent         = true
  region              = "us-east-1"
  custom_endpoint_ec2 = var.endpoint
  access_key          = "AKIDBAKETEST"
  secret_key          = "bake-test-secret"
}

source "amazon-ebs" "golden" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.endpoint
  access_key          = "AKIDBAKETEST"
  secret_key          = "bake-test-secret"

  ami_name        = "golden-debian-12"
  ami_description = "Debian 12 with bake's provisioning"
  instance_type   = "t3.micro"
  source_ami_filter {
    filters = {
      name = "debian-12-amd64-*"
    }
    owners      = ["136693071363"]
    most_recent = true
  }
  ami_regions = ["us-west-2", "eu-west-1"]
  ami_users   = ["210987654321"]
  ami_groups  = ["all"]
  tags = {
    Name = "golden-debian-12"
    base = data.amazon-ami.debian.id
  }
  run_tags = {
    purpose = "bake"
  }

  ssh_username = "root"
  ssh_port     = var.ssh_port
  ssh_timeout  = "1m"
  aws_polling {
    delay_seconds = 1
    max_attempts  = 120
  }
}

build {
  sources = ["source.amazon-ebs.golden"]

  provisioner "shell" {
    inline = [
      "echo provisioned by bake on $(uname -s) > ${var.marker}",
      "cat ${var.marker}",
    ]
  }

  test "shell" {
    name   = "marker"
    inline = ["test -f ${var.marker}", "echo tested", "exit ${var.test_exit}"]
  }
}
