data "http" "latest" {
  url = "https://releases.example.com/app/latest.txt"
  request_headers = {
    Accept = "text/plain"
  }
}

locals {
  app_version = trimspace(data.http.latest.body)
}

source "docker" "app" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

build {
  sources = ["source.docker.app"]

  provisioner "shell" {
    inline = ["echo installing app ${local.app_version}"]
  }
}
