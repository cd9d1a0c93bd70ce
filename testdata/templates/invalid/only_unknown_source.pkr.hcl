source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  provisioner "shell" {
    inline = ["true"]
    only   = ["docker.y"] # ERROR: Unknown build source | "docker.y"
  }
}
