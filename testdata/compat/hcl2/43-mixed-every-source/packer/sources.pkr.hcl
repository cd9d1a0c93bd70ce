source "docker" "img" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

source "qemu" "vm" {
  iso_url      = "https://cdimage.debian.org/cdimage/archive/12.5.0/amd64/iso-cd/debian-12.5.0-amd64-netinst.iso"
  iso_checksum = "sha256:013f5b44670d81280b5b1bc02455842b250df2f0c6763398feb69af1a4a5b4f9"
  ssh_username     = "root"
  ssh_password     = "root"
  shutdown_command = "poweroff"
}

source "amazon-ebs" "ami" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ami_name      = "mixed-{{timestamp}}"
  ssh_username  = "admin"
}

source "null" "none" {
  communicator = "none"
}
