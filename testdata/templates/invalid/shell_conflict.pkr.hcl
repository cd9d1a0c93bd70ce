source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  provisioner "shell" {
    inline = ["true"]
    script = "setup.sh" # ERROR: Conflicting options # ERROR: Script file not found
  }
}
