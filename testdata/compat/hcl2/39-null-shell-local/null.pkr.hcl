source "null" "local" {
  communicator = "none"
}

build {
  sources = ["source.null.local"]

  provisioner "shell-local" {
    inline = ["echo {{ build_name }} on the host"]
  }

  provisioner "shell-local" {
    script = "scripts/check.sh"
  }
}
