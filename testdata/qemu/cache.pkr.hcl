# The qemu whole-build cache, run by builder/qemu's TestCacheE2E on the
# Debian guest that scripts/qemu-fixture.sh makes: two provisioners, the
# last one's text a variable, and a checksum post-processor. qemu_binary
# is a wrapper that logs each start, so that the test sees a reused build
# start none.

variable "fixture" {
  type = string
}

variable "base" {
  type = string
}

variable "output" {
  type = string
}

variable "qemu" {
  type = string
}

variable "last" {
  type = string
}

source "qemu" "cached" {
  iso_url          = var.base
  iso_checksum     = "none"
  disk_image       = true
  format           = "qcow2"
  qemu_binary      = var.qemu
  memory           = 768
  ssh_username     = "root"
  ssh_timeout      = "5m"
  boot_wait        = "0s"
  shutdown_command = "poweroff"
  shutdown_timeout = "2m"
  output_directory = var.output
  vm_name          = "cached.qcow2"
  qemuargs = [
    ["-kernel", "${var.fixture}/vmlinuz"],
    ["-initrd", "${var.fixture}/initrd.img"],
    ["-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"],
  ]
}

build {
  sources = ["source.qemu.cached"]

  provisioner "shell" {
    inline = ["echo first > /root/first"]
  }

  provisioner "shell" {
    inline = ["echo '${var.last}' > /root/last", "sync"]
  }

  post-processor "checksum" {
    checksum_types = ["sha256"]
    output         = "${var.output}/{{.ChecksumType}}.checksum"
  }
}
