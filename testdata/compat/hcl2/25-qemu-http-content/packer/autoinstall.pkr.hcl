locals {
  user_data = templatefile("user-data.pkrtpl.hcl", { hostname = "golden", user = "ops" })
}

source "qemu" "ubuntu" {
  iso_url      = "https://cdimage.debian.org/cdimage/archive/12.5.0/amd64/iso-cd/debian-12.5.0-amd64-netinst.iso"
  iso_checksum = "sha256:013f5b44670d81280b5b1bc02455842b250df2f0c6763398feb69af1a4a5b4f9"
  http_content = {
    "/user-data" = local.user_data
    "/meta-data" = ""
  }
  boot_command     = ["c<wait>linux /casper/vmlinuz autoinstall ds='nocloud-net;s=http://{{.HTTPIP}}:{{.HTTPPort}}/'<enter>"]
  ssh_username     = "ops"
  ssh_password     = "ops"
  shutdown_command = "sudo poweroff"
}

build {
  sources = ["source.qemu.ubuntu"]
}
