source "docker" "x" { # ERROR: Missing required option | "image"
  commit = true
}
