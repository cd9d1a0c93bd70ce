source "docker" "x" {
  image   = "debian"
  commit  = true
  discard = true # ERROR: Conflicting options
}
