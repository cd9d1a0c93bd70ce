variable "host" {
  type    = string
  default = "127.0.0.1"
}

source "null" "existing" {
  ssh_host     = var.host
  ssh_username = "deploy"
  ssh_password = "deploy"
  ssh_port     = 2222
}

build {
  sources = ["source.null.existing"]

  provisioner "shell" {
    inline = ["uname -a"]
  }
}
