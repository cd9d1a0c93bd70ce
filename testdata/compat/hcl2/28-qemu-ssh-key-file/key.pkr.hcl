source "qemu" "keyed" {
  iso_url      = "https://cdimage.debian.org/cdimage/archive/12.5.0/amd64/iso-cd/debian-12.5.0-amd64-netinst.iso"
  iso_checksum = "sha256:013f5b44670d81280b5b1bc02455842b250df2f0c6763398feb69af1a4a5b4f9"
  ssh_username         = "root"
  ssh_private_key_file = "keys/id_ed25519"
  ssh_port             = 22
  ssh_handshake_attempts = 20
  shutdown_command     = "poweroff"
}

build {
  sources = ["source.qemu.keyed"]
  provisioner "file" {
    source      = "keys/authorized_keys"
    destination = "/root/.ssh/authorized_keys"
  }
}
