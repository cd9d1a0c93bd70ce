source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  source "docker.x" {
    name   = "y"
    imagee = "ubuntu" # ERROR: Unsupported argument | Did you mean "image"?
  }
}
