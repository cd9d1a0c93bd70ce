packer {
  required_version = ">= 1.12.0"
  required_plugins {
    docker = {
      version = ">= 1.0.8"
      source  = "github.com/hashicorp/docker"
    }
    ansible = {
      version = "~> 1"
      source  = "github.com/hashicorp/ansible"
    }
  }
}

source "docker" "ansible" {
  image   = "bake.local/debian:bookworm"
  discard = true
}

build {
  sources = ["source.docker.ansible"]

  provisioner "shell" {
    inline = ["echo ansible would run here"]
  }
}
