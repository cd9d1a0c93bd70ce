source "amazon-ebs" "env" {
  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ami_name      = "region-from-env"
  ssh_username  = "ec2-user"
}

build {
  sources = ["source.amazon-ebs.env"]
}
