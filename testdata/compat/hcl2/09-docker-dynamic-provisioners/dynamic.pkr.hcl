locals {
  steps = {
    update  = "apt-get update || true"
    cleanup = "rm -rf /tmp/*"
  }
  users = ["alice", "bob"]
}

source "docker" "base" {
  image   = "bake.local/debian:bookworm"
  discard = true
}

build {
  sources = ["source.docker.base"]

  dynamic "provisioner" {
    for_each = local.steps
    labels   = ["shell"]
    content {
      inline = [provisioner.value]
    }
  }

  dynamic "provisioner" {
    for_each = local.users
    iterator = user
    labels   = ["shell"]
    content {
      inline = ["useradd -m ${user.value} || true"]
    }
  }
}
