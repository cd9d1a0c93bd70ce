source "docker" "x" {
  image  = uppercase("debian") # ERROR: Call to unknown function
  commit = true
}
