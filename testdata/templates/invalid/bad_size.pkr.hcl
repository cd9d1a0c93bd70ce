source "qemu" "x" {
  iso_url      = "https://example.com/debian.iso"
  iso_checksum = "none"
  disk_size    = "ten gigs" # ERROR: Incorrect attribute value type | not a size
  ssh_username = "root"
}
