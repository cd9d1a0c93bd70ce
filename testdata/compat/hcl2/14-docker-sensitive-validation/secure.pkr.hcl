variable "api_token" {
  type      = string
  sensitive = true
  default   = "s3cr3t-token-value"
}

variable "ports" {
  type    = list(number)
  default = [80, 443]
  validation {
    condition     = alltrue([for p in var.ports : p > 0 && p < 65536])
    error_message = "Every port must be a TCP port."
  }
}

variable "labels" {
  type = map(string)
  default = {
    team = "infra"
  }
}

locals {
  labels = merge(var.labels, { managed_by = "bake" })
  expose = [for p in var.ports : "EXPOSE ${p}"]
}

source "docker" "secure" {
  image   = "bake.local/debian:bookworm"
  commit  = true
  changes = concat(local.expose, [for k, v in local.labels : "LABEL ${k}=${v}"])
}

build {
  sources = ["source.docker.secure"]

  provisioner "shell" {
    environment_vars = ["API_TOKEN=${var.api_token}"]
    inline           = ["test -n \"$API_TOKEN\""]
  }
}
