source "qemu" "image" {
  iso_url          = var.iso.url
  iso_checksum     = var.iso.checksum
  disk_size        = var.disk_size
  output_directory = "build/${var.distro}"
  vm_name          = "${var.distro}.qcow2"
  http_directory   = "qemu/http"
  ssh_username     = "root"
  ssh_password     = "root"
  shutdown_command = "poweroff"
}

build {
  name    = var.distro
  sources = ["source.qemu.image"]

  provisioner "shell" {
    script = "qemu/scripts/setup.sh"
  }
}
