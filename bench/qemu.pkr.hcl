# The qemu template bench/speed.sh builds with bake and, unchanged, with
# Packer 1.9 (its bundled qemu plugin): the Debian guest that
# scripts/qemu-fixture.sh makes, booted under TCG with the fixture's
# kernel, two provisioners, a shutdown_command, a compressed qcow2 and a
# checksum post-processor.
#
# Only what both tools read is used. Packer does not put a temporary key on
# a CD, so the login key is a file the benchmark makes (var.key) and the
# NoCloud seed that carries its public half (var.public_key) is written
# with cd_content; the fixture's nocloud-lite installs it at boot.
# accelerator is named because Packer would pick kvm, and a KVM guest
# hangs on these machines; bake's default picks tcg here on its own.
# headless because Packer opens a window otherwise.

variable "fixture" {
  type = string
}

variable "base" {
  type = string
}

variable "output" {
  type = string
}

variable "key" {
  type = string
}

variable "public_key" {
  type = string
}

source "qemu" "bench" {
  iso_url              = var.base
  iso_checksum         = "none"
  disk_image           = true
  format               = "qcow2"
  disk_compression     = true
  accelerator          = "tcg"
  headless             = true
  memory               = 768
  ssh_username         = "root"
  ssh_private_key_file = var.key
  ssh_timeout          = "5m"
  boot_wait            = "0s"
  shutdown_command     = "poweroff"
  shutdown_timeout     = "2m"
  output_directory     = var.output
  vm_name              = "bench.qcow2"
  cd_label             = "cidata"
  cd_content = {
    "meta-data" = "instance-id: bench\n"
    "user-data" = "#cloud-config\ndisable_root: false\nusers:\n  - name: root\n    ssh_authorized_keys:\n      - ${var.public_key}\n"
  }
  qemuargs = [
    ["-kernel", "${var.fixture}/vmlinuz"],
    ["-initrd", "${var.fixture}/initrd.img"],
    ["-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"],
  ]
}

build {
  sources = ["source.qemu.bench"]

  provisioner "shell" {
    inline = ["echo provisioned > /root/provisioned", "uname -r"]
  }

  provisioner "file" {
    content     = "written by the benchmark\n"
    destination = "/root/bench.txt"
  }

  post-processor "checksum" {
    checksum_types = ["sha256"]
    output         = "${var.output}/{{.ChecksumType}}.checksum"
  }
}
