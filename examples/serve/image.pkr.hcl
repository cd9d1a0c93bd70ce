# The bake serve container image, built by bake itself from a Debian base:
#
#   CGO_ENABLED=0 go build -o bake ./cmd/bake
#   bake build -var bake_binary=./bake examples/serve/image.pkr.hcl
#   docker run -d -p 8080:8080 \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v "$PWD/server.hcl:/etc/bake/server.hcl:ro" \
#     -v bake-state:/var/lib/bake bake-serve:latest
#
# The service runs as the user bake; its run history (SQLite by default)
# and build cache live in /var/lib/bake and /var/cache/bake (volumes).
# docker builds go to the host's engine through the socket; qemu builds
# need /dev/kvm passed in (--device /dev/kvm) or run under TCG.

variable "bake_binary" {
  type        = string
  default     = "bake"
  description = "a bake binary for linux/amd64, built with CGO_ENABLED=0"
}

variable "base" {
  type    = string
  default = "debian:bookworm-slim"
}

variable "pull" {
  type        = bool
  default     = true
  description = "pull the base image (false: use the local one)"
}

variable "apt_packages" {
  type        = list(string)
  default     = ["ca-certificates", "git", "openssh-client", "qemu-utils"]
  description = "what runs need beside bake: git for git sources, qemu-img for qemu outputs"
}

variable "tag" {
  type    = string
  default = "latest"
}

source "docker" "serve" {
  image  = var.base
  pull   = var.pull
  commit = true
  changes = [
    "USER bake",
    "WORKDIR /var/lib/bake",
    "ENV BAKE_CACHE_DIR=/var/cache/bake",
    "EXPOSE 8080",
    "ENTRYPOINT [\"/usr/local/bin/bake\", \"serve\"]",
    "CMD [\"-config\", \"/etc/bake/server.hcl\"]",
  ]
}

build {
  sources = ["source.docker.serve"]

  provisioner "shell" {
    inline = length(var.apt_packages) == 0 ? ["true"] : [
      "apt-get update -q",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${join(" ", var.apt_packages)}",
      "rm -rf /var/lib/apt/lists/*",
    ]
  }

  provisioner "file" {
    source      = var.bake_binary
    destination = "/usr/local/bin/bake"
  }

  provisioner "shell" {
    inline = [
      "chmod 0755 /usr/local/bin/bake",
      "useradd --system --create-home --home-dir /var/lib/bake --shell /usr/sbin/nologin bake",
      "install -d -o bake -g bake -m 0750 /var/cache/bake /etc/bake",
      "/usr/local/bin/bake version",
    ]
  }

  post-processor "docker-tag" {
    repository = "bake-serve"
    tags       = [var.tag]
  }
}
