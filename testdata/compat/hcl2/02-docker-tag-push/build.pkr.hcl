packer {
  required_plugins {
    docker = {
      version = ">= 1.0.8"
      source  = "github.com/hashicorp/docker"
    }
  }
}

variable "registry" {
  type    = string
  default = "127.0.0.1:5000"
}

source "docker" "base" {
  image   = "bake.local/debian:bookworm"
  commit  = true
  changes = ["ENV APP_ENV production", "WORKDIR /srv", "CMD [\"/bin/bash\"]"]
}

build {
  sources = ["source.docker.base"]

  provisioner "shell" {
    inline = ["apt-get update || true"]
  }

  post-processors {
    post-processor "docker-tag" {
      repository = "${var.registry}/base"
      tag        = ["base"]
    }
    post-processor "docker-push" {}
  }
}
