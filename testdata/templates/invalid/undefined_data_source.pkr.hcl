source "amazon-ebs" "x" {
  ami_name      = "bake-x"
  instance_type = "t3.micro"
  region        = "eu-west-1"
  source_ami    = data.amazon-ami.base.id # ERROR: Undefined data source
  ssh_username  = "admin"
}
