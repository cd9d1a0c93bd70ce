source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  provisioner "shell" {
    inline = ["true"]
    override = {
      "docker.z" = { # ERROR: Unknown build source
        inline = ["false"]
      }
    }
  }
}
