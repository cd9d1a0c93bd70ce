source "qemu" "x" {
  iso_url      = "https://example.com/debian.iso"
  iso_checksum = "none"
  format       = "qcow3" # ERROR: Invalid value | Did you mean "qcow2"?
  ssh_username = "root"
}
