variable "region" {
  default = "eu-west-1"
}

variable "region" { # ERROR: Duplicate variable
  default = "us-east-1"
}
