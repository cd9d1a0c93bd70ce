locals {
  configs = fileset(".", "conf.d/*.conf")
}

source "docker" "conf" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

build {
  sources = ["source.docker.conf"]

  dynamic "provisioner" {
    for_each = local.configs
    labels   = ["file"]
    content {
      source      = "${path.root}/${provisioner.value}"
      destination = "/etc/app/${basename(provisioner.value)}"
    }
  }
}
