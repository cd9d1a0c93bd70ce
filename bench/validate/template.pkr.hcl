variable "v00" {
  type    = string
  default = "value-0"
}

variable "v01" {
  type    = string
  default = "value-1"
}

variable "v02" {
  type    = string
  default = "value-2"
}

variable "v03" {
  type    = string
  default = "value-3"
}

variable "v04" {
  type    = string
  default = "value-4"
}

variable "v05" {
  type    = string
  default = "value-5"
}

variable "v06" {
  type    = string
  default = "value-6"
}

variable "v07" {
  type    = string
  default = "value-7"
}

variable "v08" {
  type    = string
  default = "value-8"
}

variable "v09" {
  type    = string
  default = "value-9"
}

variable "v10" {
  type    = string
  default = "value-10"
}

variable "v11" {
  type    = string
  default = "value-11"
}

variable "v12" {
  type    = string
  default = "value-12"
}

variable "v13" {
  type    = string
  default = "value-13"
}

variable "v14" {
  type    = string
  default = "value-14"
}

variable "v15" {
  type    = string
  default = "value-15"
}

variable "v16" {
  type    = string
  default = "value-16"
}

variable "v17" {
  type    = string
  default = "value-17"
}

variable "v18" {
  type    = string
  default = "value-18"
}

variable "v19" {
  type    = string
  default = "value-19"
}

locals {
  stamp = formatdate("YYYYMMDDhhmmss", timestamp())
}

source "docker" "app" {
  image   = "debian:${var.v00}"
  commit  = true
  changes = ["LABEL stamp=${local.stamp}"]
}

source "qemu" "vm" {
  iso_url          = "https://example.com/${var.v01}.iso"
  iso_checksum     = "none"
  disk_size        = "10G"
  format           = "qcow2"
  ssh_username     = "root"
  ssh_password     = var.v02
  shutdown_command = "poweroff"
}

source "amazon-ebs" "ami" {
  ami_name      = "bake-${local.stamp}"
  instance_type = "t3.micro"
  region        = "eu-west-1"
  source_ami    = "ami-0123456789abcdef0"
  ssh_username  = "admin"
}

build {
  name    = "bench"
  sources = ["source.docker.app", "source.qemu.vm", "source.amazon-ebs.ami"]

  provisioner "shell" {
    inline = ["echo step 0 ${var.v03} on ${source.name}"]
  }

  provisioner "shell" {
    inline = ["echo step 1 ${var.v04} on ${source.name}"]
  }

  provisioner "shell" {
    inline = ["echo step 2 ${var.v05} on ${source.name}"]
  }

  provisioner "shell" {
    inline = ["echo step 3 ${var.v06} on ${source.name}"]
  }

  provisioner "shell" {
    inline = ["echo step 4 ${var.v07} on ${source.name}"]
  }

  provisioner "shell" {
    inline = ["echo step 5 ${var.v08} on ${source.name}"]
  }

  provisioner "shell" {
    inline = ["echo step 6 ${var.v09} on ${source.name}"]
  }

  provisioner "shell" {
    inline = ["echo step 7 ${var.v10} on ${source.name}"]
  }

  provisioner "shell" {
    inline = ["echo step 8 ${var.v11} on ${source.name}"]
  }

  provisioner "shell" {
    inline = ["echo step 9 ${var.v12} on ${source.name}"]
  }


  post-processor "manifest" {
    output = "manifest.json"
  }
}
