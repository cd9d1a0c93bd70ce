packer {
  required_plugins {
    docker = {
      version = ">= 1.0.8"
      source  = "github.com/hashicorp/docker"
    }
  }
}

source "docker" "rootfs" {
  image       = "bake.local/debian:bookworm"
  export_path = "rootfs.tar"
}

build {
  sources = ["source.docker.rootfs"]

  provisioner "shell" {
    inline = ["rm -rf /var/lib/apt/lists/*"]
  }

  post-processors {
    post-processor "compress" {
      output            = "{{ .BuildName }}-rootfs.tar.gz"
      compression_level = 9
    }
    post-processor "checksum" {
      checksum_types = ["sha256", "sha512"]
      output         = "{{ .BuildName }}_{{ .ChecksumType }}.checksum"
    }
    post-processor "manifest" {
      output     = "manifest.json"
      strip_path = true
    }
  }
}
