source "docker" "x" {
  image  = "debian"
  commit = true
}

build {
  sources = ["source.docker.x"]

  provisioner "shell" {
    inline              = ["true"]
    start_retry_timeout = "5 minutes" # ERROR: Incorrect attribute value type | not a duration
  }
}
