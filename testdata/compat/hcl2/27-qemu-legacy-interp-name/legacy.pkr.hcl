source "qemu" "alpine" {
  iso_url          = "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/x86_64/alpine-virt-3.19.1-x86_64.iso"
  iso_checksum     = "sha256:366317d854d77fc5db3b2fd774f5e1e5db0a7ac210614fd39ddb555b09dbb344"
  vm_name          = "alpine-{{ isotime `2006` }}"
  http_directory   = "http"
  boot_command     = ["root<enter><wait>", "setup-alpine -f http://{{ .HTTPIP }}:{{ .HTTPPort }}/answers<enter>", "echo {{ .Name }}<enter>"]
  ssh_username     = "root"
  ssh_password     = "alpine"
  shutdown_command = "poweroff"
}

build {
  sources = ["source.qemu.alpine"]

  provisioner "shell" {
    inline = ["apk update", "echo {{ build_name }} > /etc/build-name"]
  }
}
