variable "owner" {
  type    = string
  default = "platform team"
}

locals {
  motd    = templatefile("templates/motd.tpl", { owner = var.owner, packages = ["curl", "jq"] })
  release = trimspace(file("VERSION"))
}

source "docker" "motd" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

build {
  sources = ["source.docker.motd"]

  provisioner "shell" {
    inline = ["printf '%s' '${local.motd}' > /etc/motd", "echo ${local.release} > /etc/release"]
  }
}
