source "docker" "ci" {
  image   = "bake.local/debian:bookworm"
  discard = true
}

build {
  sources = ["sources.docker.ci"]

  provisioner "shell-local" {
    inline = ["echo running on the build host for ${source.name}"]
  }

  provisioner "shell" {
    inline = ["true"]
  }

  post-processor "shell-local" {
    environment_vars = ["TARGET=${source.type}"]
    inline           = ["echo done with $TARGET"]
  }
}
