source "amazon-ebs" "base" {
  region        = var.aws_region
  instance_type = var.instance_type
  ami_name      = "base-${local.date}"
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
}
