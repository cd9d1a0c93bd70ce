source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  provisioner "shell" {
    inline = ["true"]
    only   = ["docker.x"]
    except = ["docker.x"] # ERROR: Conflicting options
  }
}
