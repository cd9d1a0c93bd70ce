variable "distro" {
  type = string
}

variable "disk_size" {
  type    = string
  default = "20G"
}

variable "iso" {
  type = object({
    url      = string
    checksum = string
  })
}
