source "null" "a" {
  communicator = "none"
}

source "null" "b" {
  communicator = "none"
}

build {
  name        = "first"
  description = "Runs against a."
  sources     = ["sources.null.a"]

  provisioner "shell-local" {
    inline = ["echo first"]
  }
}

build {
  name    = "second"
  sources = ["null.a", "source.null.b"]

  post-processor "shell-local" {
    only   = ["null.b"]
    inline = ["echo second b"]
  }
}
