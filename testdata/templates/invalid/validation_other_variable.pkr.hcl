variable "min" {
  default = 1
}

variable "size" {
  default = 5
  validation {
    condition     = var.size >= var.min # ERROR: Invalid reference in variable validation
    error_message = "Too small."
  }
}
