source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  provisioner "shell" {
    inline       = ["true"]
    pause_before = "soon" # ERROR: Invalid duration
  }
}
