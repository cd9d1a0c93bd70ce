source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  post-processor "docker-tagg" { # ERROR: Unknown post-processor type | Did you mean "docker-tag"?
    repository = "bake/x"
  }
}
