source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  provisioner "shel" { # ERROR: Unknown provisioner type | Did you mean "shell"?
    inline = ["true"]
  }
}
