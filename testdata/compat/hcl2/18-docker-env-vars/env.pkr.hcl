variable "image" {
  type    = string
  default = "debian:12"
}

variable "release" {
  type = string
}

source "docker" "env" {
  image  = var.image
  commit = true
}

build {
  sources = ["source.docker.env"]

  provisioner "shell" {
    inline = ["echo release ${var.release} home ${env("HOME")}"]
  }
}
