source "docker" "web" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

build {
  sources = ["source.docker.web"]

  provisioner "file" {
    source      = "${path.root}/files/nginx.conf"
    destination = "/etc/nginx.conf"
  }

  provisioner "file" {
    sources     = ["images/web/files/index.html", "images/web/files/robots.txt"]
    destination = "/srv/www/"
  }

  provisioner "file" {
    content     = file("files/robots.txt")
    destination = "/srv/www/robots-copy.txt"
  }

  provisioner "file" {
    direction   = "download"
    source      = "/etc/os-release"
    destination = "out/os-release"
  }
}
