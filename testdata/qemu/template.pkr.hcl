# Two qemu builds in the shape of Packer's qemu examples, run by
# builder/qemu's TestBakeBuild on the Debian guest that
# scripts/qemu-fixture.sh makes (its directory comes in as var.fixture,
# a copy of its disk as var.base):
#
#   qemu.debian  boots the disk under TCG with the fixture's kernel and
#                initrd, logs in as root with bake's temporary key (carried
#                by the NoCloud seed bake puts on a CD), runs the shell and
#                file provisioners, shuts down with shutdown_command and
#                writes a compressed qcow2; its test block then boots
#                that qcow2 on its own and finds what the provisioners left.
#   qemu.panic   runs beside it on its own forwarded port with no
#                communicator: its kernel has no init, so the power button
#                goes unanswered and bake stops it after shutdown_timeout.

variable "fixture" {
  type = string
}

variable "base" {
  type = string
}

variable "output" {
  type = string
}

source "qemu" "debian" {
  iso_url          = var.base
  iso_checksum     = "none"
  disk_image       = true
  disk_size        = "3G"
  format           = "qcow2"
  disk_compression = true
  memory           = 768
  ssh_username     = "root"
  ssh_timeout      = "5m"
  boot_wait        = "0s"
  shutdown_command = "poweroff"
  shutdown_timeout = "2m"
  output_directory = "${var.output}/debian"
  vm_name          = "debian.qcow2"
  qemuargs = [
    ["-kernel", "${var.fixture}/vmlinuz"],
    ["-initrd", "${var.fixture}/initrd.img"],
    ["-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"],
  ]
}

source "qemu" "panic" {
  iso_url          = var.base
  iso_checksum     = "none"
  disk_image       = true
  use_backing_file = true
  memory           = 256
  communicator     = "none"
  boot_wait        = "0s"
  shutdown_timeout = "3s"
  output_directory = "${var.output}/panic"
  vm_name          = "panic.qcow2"
  qemuargs = [
    ["-kernel", "${var.fixture}/vmlinuz"],
    ["-initrd", "${var.fixture}/initrd.img"],
    ["-append", "root=LABEL=bakeroot ro console=ttyS0 init=/bin/false"],
  ]
}

build {
  sources = ["source.qemu.debian", "source.qemu.panic"]

  provisioner "shell" {
    only   = ["qemu.debian"]
    inline = ["echo provisioned-by-bake-build > /root/provisioned", "echo guest kernel $(uname -r)", "echo build boot $(cat /proc/sys/kernel/random/boot_id)"]
  }

  provisioner "file" {
    only        = ["qemu.debian"]
    content     = "hello from bake build\n"
    destination = "/root/hello.txt"
  }

  test "shell" {
    name   = "provisioned"
    only   = ["qemu.debian"]
    inline = ["test \"$(cat /root/provisioned)\" = provisioned-by-bake-build", "grep -q 'hello from bake build' /root/hello.txt", "echo tested boot $(cat /proc/sys/kernel/random/boot_id)"]
  }
}
