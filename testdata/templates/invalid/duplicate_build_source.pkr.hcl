source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  source "docker.x" { # ERROR: Duplicate source | name = "..."
    image = "ubuntu"
  }
}
