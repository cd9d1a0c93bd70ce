locals {
  repository = "registry.example.com/${var.environment}/app"
}

build {
  name    = "app"
  sources = ["source.docker.app"]

  provisioner "shell" {
    script = "packer/scripts/install.sh"
  }

  post-processor "docker-tag" {
    repository = local.repository
    tags       = concat(var.tags, [var.app_version])
  }
}
