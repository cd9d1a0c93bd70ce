packer {
  required_version = ">= 1.9.0"
  required_plugins {
    qemu = {
      version = "~> 1"
      source  = "github.com/hashicorp/qemu"
    }
  }
}

source "qemu" "debian" {
  iso_url      = "https://cdimage.debian.org/cdimage/archive/12.5.0/amd64/iso-cd/debian-12.5.0-amd64-netinst.iso"
  iso_checksum = "sha256:013f5b44670d81280b5b1bc02455842b250df2f0c6763398feb69af1a4a5b4f9"
  output_directory = "output-debian"
  vm_name          = "debian-12.qcow2"
  format           = "qcow2"
  disk_size        = "8G"
  memory           = 2048
  cpus             = 2
  headless         = true
  http_directory   = "http"
  boot_wait        = "5s"
  boot_command     = ["<esc><wait>", "auto url=http://{{ .HTTPIP }}:{{ .HTTPPort }}/preseed.cfg<enter>"]
  ssh_username     = "root"
  ssh_password     = "packer"
  ssh_timeout      = "30m"
  shutdown_command = "shutdown -P now"
}

build {
  sources = ["source.qemu.debian"]

  provisioner "shell" {
    execute_command = "echo 'packer' | {{ .Vars }} sudo -S -E sh -eux '{{ .Path }}'"
    scripts         = ["scripts/update.sh", "scripts/cleanup.sh"]
  }
}
