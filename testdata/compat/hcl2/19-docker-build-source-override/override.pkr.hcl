source "docker" "base" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

build {
  source "source.docker.base" {
    name    = "web"
    changes = ["EXPOSE 80"]
  }

  source "docker.base" {
    name    = "worker"
    changes = ["CMD [\"/usr/bin/worker\"]"]
  }

  provisioner "shell" {
    inline = ["echo ${source.name}"]
  }
}
