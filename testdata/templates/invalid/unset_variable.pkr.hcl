variable "region" { # ERROR: Unset variable | PKR_VAR_region
  type = string
}
