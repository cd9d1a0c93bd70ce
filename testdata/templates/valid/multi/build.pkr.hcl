locals {
  image_tag = "${local.prefix}-${var.from_auto}"
  prefix    = "bake"
  packages  = ["curl", "git"]
}

local "auth_header" {
  expression = "Bearer ${var.api_token}"
  sensitive  = true
}

source "docker" "base" {
  image   = var.base_image
  commit  = true
  changes = ["LABEL tag=${local.image_tag}", "LABEL source=${source.name}"]
}

source "null" "host" {
  communicator = "none"
}

build {
  name        = "multi"
  description = "Two docker images from one source, and a null build."
  sources     = ["source.null.host"]

  source "docker.base" {
    name = "slim"
  }

  source "source.docker.base" {
    name    = "full"
    image   = "debian:trixie"
    changes = ["LABEL variant=full"]
  }

  dynamic "provisioner" {
    for_each = local.packages
    labels   = ["shell"]
    content {
      inline = ["echo installing ${provisioner.value} as ${var.settings.user}"]
      only   = ["docker.slim", "docker.full"]
    }
  }

  provisioner "shell" {
    inline = ["echo ${var.from_env} ${join(",", var.from_file)} ${var.from_cli}"]
    override = {
      "docker.full" = {
        inline = ["echo full"]
      }
    }
    only = ["docker.slim", "docker.full"]
  }

  provisioner "shell-local" {
    inline = ["echo host ${build.ID}"]
  }

  error-cleanup-provisioner "shell-local" {
    inline = ["echo cleaning up after ${source.name}"]
  }

  post-processors {
    post-processor "docker-tag" {
      repository = "bake/multi"
      tags       = [local.image_tag]
      except     = ["null.host"]
    }
    post-processor "manifest" {
      name                = "record"
      output              = "manifest.json"
      keep_input_artifact = true
    }
  }
}
