data "amazon-ami" "debian" {
  region = "us-east-1"
  filters = {
    name = "debian-12-amd64-*"
  }
  owners      = ["136693071363"]
  most_recent = true
}

source "amazon-ebs" "from-data" {
  region        = "us-east-1"
  source_ami    = data.amazon-ami.debian.id
  instance_type = "t3.small"
  ami_name      = "from-data-${formatdate("YYYYMMDDhhmm", timestamp())}"
  ssh_username  = "admin"
}

build {
  sources = ["source.amazon-ebs.from-data"]
}
