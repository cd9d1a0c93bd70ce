source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  post-processor "docker-tag" {
    repository = "bake/x"
    except     = ["docker.x", "dcoker.x"] # ERROR: Unknown build source | Did you mean "docker.x"?
  }
}
