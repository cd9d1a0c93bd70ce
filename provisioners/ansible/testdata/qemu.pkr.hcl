# One qemu build that runs both Ansible provisioners, run by TestQemu on
# the guest `BAKE_QEMU_FIXTURE_VARIANT=ansible scripts/qemu-fixture.sh`
# makes (Debian with python3, sudo and ansible-core; its directory comes
# in as var.fixture, a copy of its disk as var.base):
#
#   ansible        on this host, straight to the guest's forwarded SSH
#                  port with bake's temporary key (use_proxy = false):
#                  site.yml's roles, template, handler, become, a variable
#                  from extra_arguments and a galaxy role from a local
#                  tarball;
#   ansible-local  inside the guest, with a role, group_vars,
#                  inventory_groups and extra_arguments.
#
# The guest powers off and bake writes a qcow2; the test reads the files
# the plays wrote out of that disk.
#
# qemu.interrupt runs sleep.yml through bake's proxy (use_proxy = true),
# for TestQemuInterrupt to send SIGINT to bake during the play.

variable "fixture" {
  type = string
}

variable "base" {
  type = string
}

variable "output" {
  type = string
}

variable "testdata" {
  type = string
}

variable "local_testdata" {
  type = string
}

variable "galaxy_file" {
  type = string
}

variable "galaxy_roles" {
  type = string
}

source "qemu" "ansible" {
  iso_url          = var.base
  iso_checksum     = "none"
  disk_image       = true
  format           = "qcow2"
  memory           = 1024
  ssh_username     = "root"
  ssh_timeout      = "5m"
  boot_wait        = "0s"
  shutdown_command = "poweroff"
  shutdown_timeout = "2m"
  output_directory = var.output
  vm_name          = "ansible.qcow2"
  qemuargs = [
    ["-kernel", "${var.fixture}/vmlinuz"],
    ["-initrd", "${var.fixture}/initrd.img"],
    ["-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"],
  ]
}

source "qemu" "interrupt" {
  iso_url          = var.base
  iso_checksum     = "none"
  disk_image       = true
  format           = "qcow2"
  memory           = 512
  ssh_username     = "root"
  ssh_timeout      = "5m"
  boot_wait        = "0s"
  shutdown_command = "poweroff"
  shutdown_timeout = "2m"
  output_directory = var.output
  vm_name          = "interrupt.qcow2"
  qemuargs = [
    ["-kernel", "${var.fixture}/vmlinuz"],
    ["-initrd", "${var.fixture}/initrd.img"],
    ["-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"],
  ]
}

build {
  sources = ["source.qemu.ansible", "source.qemu.interrupt"]

  provisioner "ansible" {
    only          = ["qemu.interrupt"]
    playbook_file = "${var.testdata}/sleep.yml"
    use_proxy     = true
  }

  provisioner "ansible" {
    only            = ["qemu.ansible"]
    playbook_file   = "${var.testdata}/site.yml"
    use_proxy       = false
    groups          = ["web"]
    extra_arguments = ["-e", "greeting=hello-over-ssh"]
    galaxy_file     = var.galaxy_file
    roles_path      = "${var.galaxy_roles}:${var.testdata}/roles"
  }

  provisioner "ansible-local" {
    only             = ["qemu.ansible"]
    playbook_file    = "${var.local_testdata}/local.yml"
    role_paths       = ["${var.local_testdata}/roles/local"]
    group_vars       = "${var.local_testdata}/group_vars"
    inventory_groups = ["web"]
    extra_arguments  = ["-e", "from_extra=extra"]
  }
}
