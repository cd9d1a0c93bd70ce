variable "image" {
  default = "debian"
}

source "docker" "x" {
  image  = var.imge # ERROR: Undefined variable | Did you mean "image"?
  commit = true
}
