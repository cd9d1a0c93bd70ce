variable "base_image" {
  type        = string
  default     = "debian:bookworm"
  description = "The image every build starts from."
}

variable "from_env" {
  type    = string
  default = "default"
}

variable "from_auto" {
  type    = number
  default = 1
}

variable "from_file" {
  type    = list(string)
  default = []
}

variable "from_cli" {
  type = string
}

variable "settings" {
  type = object({
    user  = string
    shell = optional(string, "/bin/sh")
  })
  default = {
    user = "root"
  }
}

variable "api_token" {
  type      = string
  sensitive = true
  default   = "tok-3f9a2c71e5"

  validation {
    condition     = length(var.api_token) > 8
    error_message = "The API token is too short."
  }
}

variables {
  legacy = "from a variables block"
}
