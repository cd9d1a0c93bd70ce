source "qemu" "tuned" {
  iso_url      = "https://cdimage.debian.org/cdimage/archive/12.5.0/amd64/iso-cd/debian-12.5.0-amd64-netinst.iso"
  iso_checksum = "sha256:013f5b44670d81280b5b1bc02455842b250df2f0c6763398feb69af1a4a5b4f9"
  accelerator       = "tcg"
  machine_type      = "q35"
  cpus              = 4
  memory            = 4096
  net_device        = "virtio-net"
  disk_interface    = "virtio-scsi"
  disk_compression  = true
  skip_compaction   = false
  host_port_min     = 2222
  host_port_max     = 4444
  qemuargs          = [["-cpu", "max"], ["-smp", "4,sockets=1,cores=4"]]
  ssh_username      = "root"
  ssh_password      = "root"
  shutdown_command  = "poweroff"
  shutdown_timeout  = "10m"
}

build {
  sources = ["source.qemu.tuned"]
}
