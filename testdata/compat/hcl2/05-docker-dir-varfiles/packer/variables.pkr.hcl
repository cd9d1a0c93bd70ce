variable "image" {
  type        = string
  description = "Base image."
}

variable "app_version" {
  type    = string
  default = "0.0.0"
}

variable "tags" {
  type    = list(string)
  default = ["latest"]
}

variable "environment" {
  type = string
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "The environment must be dev, staging or prod."
  }
}
