variable "region" {
  type    = string
  default = "us-east-1"
}

variable "password" {
  type      = string
  default   = "fuzz-console-s3cret"
  sensitive = true
}

variable "sizes" {
  type    = map(number)
  default = { small = 1, large = 8.5 }
}

locals {
  name   = "golden-${var.region}"
  list   = ["a", 1, true, null]
  nested = { a = [{ b = "c" }], d = {} }
}

local "hidden" {
  expression = "token-${var.password}"
  sensitive  = true
}
