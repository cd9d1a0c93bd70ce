variable "count" {
  type    = number
  default = "many" # ERROR: Invalid value for variable | number required
}
