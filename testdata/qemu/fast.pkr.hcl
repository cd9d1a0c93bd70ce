# The qemu fast path, run by builder/qemu's TestFastPathOutput on the
# Debian guest that scripts/qemu-fixture.sh makes: a compressed qcow2
# output (zstd, parallel qemu-img convert) hashed once as it is written,
# with a checksum post-processor whose sha256 file must match sha256sum of
# the output.

variable "fixture" {
  type = string
}

variable "base" {
  type = string
}

variable "output" {
  type = string
}

variable "compression_type" {
  type    = string
  default = "zstd"
}

source "qemu" "fast" {
  iso_url          = var.base
  iso_checksum     = "none"
  disk_image       = true
  format           = "qcow2"
  disk_compression = true
  compression_type = var.compression_type
  memory           = 768
  ssh_username     = "root"
  ssh_timeout      = "5m"
  boot_wait        = "0s"
  shutdown_command = "poweroff"
  shutdown_timeout = "2m"
  output_directory = "${var.output}/fast"
  vm_name          = "fast.qcow2"
  qemuargs = [
    ["-kernel", "${var.fixture}/vmlinuz"],
    ["-initrd", "${var.fixture}/initrd.img"],
    ["-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"],
  ]
}

build {
  sources = ["source.qemu.fast"]

  provisioner "shell" {
    inline = ["echo written-on-the-fast-path > /root/fast", "sync"]
  }

  post-processor "checksum" {
    checksum_types = ["sha256", "md5"]
    output         = "${var.output}/fast/{{.ChecksumType}}.checksum"
  }
}
