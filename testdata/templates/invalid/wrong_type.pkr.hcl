source "docker" "x" {
  image   = "debian"
  commit  = true
  changes = 3 # ERROR: Incorrect attribute value type | list of string required
}
