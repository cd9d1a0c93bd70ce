# A first bake template: start from the local Debian base image, run a few
# shell commands and upload a file inside a container, and commit the result
# as a new image tagged bake-hello:latest.
#
#   bake build examples/docker/hello.pkr.hcl

variable "base_image" {
  type        = string
  default     = "bake.local/debian:bookworm"
  description = "Image to start from (scripts/setup.sh makes this one locally)."
}

variable "greeting" {
  type    = string
  default = "hello from bake"
}

source "docker" "hello" {
  image  = var.base_image
  pull   = false # the base image is local; nothing is pulled
  commit = true
  changes = [
    "LABEL org.opencontainers.image.title=bake-hello",
    "ENV APP=bake-hello",
    "WORKDIR /srv",
    "CMD [\"cat\", \"/srv/motd\"]",
  ]
}

build {
  sources = ["source.docker.hello"]

  provisioner "shell" {
    environment_vars = ["GREETING=${var.greeting}"]
    inline = [
      "mkdir -p /srv",
      "echo \"$GREETING (built $(date -u +%Y-%m-%dT%H:%M:%SZ))\" > /srv/motd",
      "cat /etc/debian_version",
    ]
  }

  provisioner "file" {
    content     = "built by ${source.type}.${source.name}\n"
    destination = "/srv/built-by"
  }

  post-processor "docker-tag" {
    repository = "bake-hello"
    tags       = ["latest"]
  }
}
