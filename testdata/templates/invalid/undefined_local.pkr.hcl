locals {
  tag = "v1"
}

source "docker" "x" {
  image  = "debian:${local.tga}" # ERROR: Undefined local | Did you mean "tag"?
  commit = true
}
