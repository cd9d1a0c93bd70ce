variables {
  image  = "bake.local/debian:bookworm"
  prefix = "legacy"
}

local "password" {
  expression = "p@ss-${var.prefix}"
  sensitive  = true
}

source "docker" "legacy" {
  image  = var.image
  commit = true
}

build {
  sources = ["source.docker.legacy"]

  provisioner "shell" {
    inline = ["echo '${local.password}' | wc -c"]
  }
}
