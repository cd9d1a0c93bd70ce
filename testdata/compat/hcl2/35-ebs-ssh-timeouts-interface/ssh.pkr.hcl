source "amazon-ebs" "ssh" {
  region                      = "us-east-1"
  source_ami                  = "ami-0abcdef1234567890"
  instance_type               = "t3.micro"
  ami_name                    = "ssh-options"
  ssh_username                = "admin"
  ssh_timeout                 = "5m"
  ssh_wait_timeout            = "15m"
  ssh_interface               = "public_ip"
  associate_public_ip_address = true
  temporary_security_group_source_cidrs = ["203.0.113.0/24"]
}

build {
  sources = ["source.amazon-ebs.ssh"]
}
