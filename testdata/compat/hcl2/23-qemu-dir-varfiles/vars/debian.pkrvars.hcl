distro = "debian"
iso = {
  url      = "https://cdimage.debian.org/cdimage/archive/12.5.0/amd64/iso-cd/debian-12.5.0-amd64-netinst.iso"
  checksum = "sha256:013f5b44670d81280b5b1bc02455842b250df2f0c6763398feb69af1a4a5b4f9"
}
