variable "size" {
  type    = number
  default = 2 # ERROR: Invalid value for variable | The size must be at least 10.

  validation {
    condition     = var.size >= 10
    error_message = "The size must be at least 10."
  }
}
