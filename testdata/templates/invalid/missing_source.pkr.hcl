source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = [
    "source.docker.x",
    "source.docker.y", # ERROR: Unknown source | source.docker.y
  ]
}
