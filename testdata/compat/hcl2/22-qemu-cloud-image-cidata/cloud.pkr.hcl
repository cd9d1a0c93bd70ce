source "qemu" "cloud" {
  iso_url          = "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2"
  iso_checksum     = "file:https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS"
  disk_image       = true
  use_backing_file = true
  disk_size        = "10G"
  format           = "qcow2"
  output_directory = "output/cloud"
  cd_files         = ["cloud-init/user-data", "cloud-init/meta-data"]
  cd_label         = "cidata"
  ssh_username     = "debian"
  ssh_timeout      = "10m"
  shutdown_command = "sudo shutdown -P now"
}

build {
  sources = ["source.qemu.cloud"]

  provisioner "shell" {
    inline = ["cloud-init status --wait || true", "sudo apt-get update"]
  }
}
