source "docker" "debian" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

source "docker" "slim" {
  image   = "bake.local/debian:bookworm"
  discard = true
}

build {
  name    = "matrix"
  sources = ["source.docker.debian", "source.docker.slim"]

  provisioner "shell" {
    only   = ["docker.debian"]
    inline = ["echo full"]
  }

  provisioner "shell" {
    except = ["docker.debian"]
    inline = ["echo slim"]
  }

  provisioner "shell" {
    inline = ["echo default"]
    override = {
      "docker.slim" = {
        inline = ["echo overridden for slim"]
      }
    }
  }

  post-processor "docker-tag" {
    only       = ["docker.debian"]
    repository = "matrix/debian"
    tags       = ["latest"]
  }
}
