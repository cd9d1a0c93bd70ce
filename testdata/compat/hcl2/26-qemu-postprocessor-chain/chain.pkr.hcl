source "qemu" "disk" {
  iso_url      = "https://cdimage.debian.org/cdimage/archive/12.5.0/amd64/iso-cd/debian-12.5.0-amd64-netinst.iso"
  iso_checksum = "sha256:013f5b44670d81280b5b1bc02455842b250df2f0c6763398feb69af1a4a5b4f9"
  output_directory = "output-disk"
  ssh_username     = "root"
  ssh_password     = "root"
  shutdown_command = "poweroff"
}

build {
  sources = ["source.qemu.disk"]

  post-processor "checksum" {
    checksum_types      = ["sha256"]
    keep_input_artifact = true
  }

  post-processors {
    post-processor "compress" {
      output = "dist/{{ .BuildName }}.tar.gz"
    }
    post-processor "manifest" {
      output = "dist/manifest.json"
      custom_data = {
        channel = "stable"
      }
    }
  }

  post-processor "shell-local" {
    inline = ["ls -l output-disk"]
  }
}
