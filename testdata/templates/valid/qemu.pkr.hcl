# The shape of Packer's qemu builder documentation example.
source "qemu" "example" {
  iso_url          = "http://mirrors.kernel.org/centos/6.9/isos/x86_64/CentOS-6.9-x86_64-minimal.iso"
  iso_checksum     = "md5:af4a1640c0c6f348c6c41f1ea9e192a2"
  output_directory = "output_centos_tdhtest"
  shutdown_command = "echo 'packer' | sudo -S shutdown -P now"
  disk_size        = "5000M"
  format           = "qcow2"
  accelerator      = "kvm"
  ssh_username     = "root"
  ssh_password     = "s0m3password"
  ssh_timeout      = "20m"
  vm_name          = "tdhtest"
  net_device       = "virtio-net"
  disk_interface   = "virtio"
  boot_wait        = "10s"
  boot_command     = ["<tab> text ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/centos6-ks.cfg<enter><wait>"]
}

build {
  sources = ["source.qemu.example"]

  provisioner "shell" {
    inline = ["uname -a", "echo built by ${build.name} on ${source.type}.${source.name}"]
  }

  post-processor "checksum" {
    checksum_types = ["sha256"]
    output         = "output_centos_tdhtest/{{.BuildName}}.checksum"
  }
}
