source "null" "debug" {
  communicator = "none"
}

build {
  sources = ["source.null.debug"]

  provisioner "breakpoint" {
    disable = true
    note    = "inspect the machine here"
  }

  provisioner "shell-local" {
    inline = ["true"]
  }
}
