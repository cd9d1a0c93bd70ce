source "docker" "x" {
  image  = "debian"
  commit = true
}

source "docker" "x" { # ERROR: Duplicate source
  image  = "ubuntu"
  commit = true
}
