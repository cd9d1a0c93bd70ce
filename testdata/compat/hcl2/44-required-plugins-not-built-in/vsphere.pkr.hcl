packer {
  required_version = ">= 1.12.0"
  required_plugins {
    docker = {
      version = ">= 1.0.8"
      source  = "github.com/hashicorp/docker"
    }
    vsphere = {
      version = "~> 1.2"
      source  = "github.com/hashicorp/vsphere"
    }
  }
}

source "docker" "base" {
  image   = "bake.local/debian:bookworm"
  discard = true
}

build {
  sources = ["source.docker.base"]

  provisioner "shell" {
    inline = ["echo built without the vsphere plugin"]
  }
}
