source "docker" "x" {
  image = = "debian" # ERROR: Invalid expression
}
