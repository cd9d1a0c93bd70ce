variable "image" {
  default = "debian"
}

source "docker" "x" {
  image  = var.image
  commit = true
}
