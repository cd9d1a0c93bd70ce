source "docker" "golden" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

build {
  hcp_packer_registry {
    bucket_name = "golden-debian"
    description = "Golden Debian images."
    bucket_labels = {
      "os" = "debian"
    }
    build_labels = {
      "build-source" = "bake"
    }
  }

  sources = ["source.docker.golden"]

  provisioner "shell" {
    inline = ["echo golden"]
  }
}
