packer {
  required_plugins {
    vsphere = { # WARNING: Plugin not built in
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/vsphere"
    }
  }
}

source "docker" "x" {
  image  = "debian"
  commit = true
}
