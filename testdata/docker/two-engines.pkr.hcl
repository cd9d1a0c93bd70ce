# One template, two Docker engines at once: run by builder/docker's
# TestTwoEngines, which starts a second dockerd on 127.0.0.1 with TLS and
# certificates it makes (var.remote_host, var.remote_certs) and loads the
# base image (var.image) into it.

variable "image" {
  type = string
}

variable "remote_host" {
  type = string
}

variable "remote_certs" {
  type = string
}

source "docker" "local" {
  image  = var.image
  pull   = false
  commit = true
}

source "docker" "remote" {
  image            = var.image
  pull             = false
  commit           = true
  docker_host      = var.remote_host
  docker_cert_path = var.remote_certs
}

build {
  sources = ["source.docker.local", "source.docker.remote"]

  provisioner "shell" {
    inline = ["echo built-on-${source.name} > /marker"]
  }
}
