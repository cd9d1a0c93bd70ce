source "docker" "x" {
  image = "debian"
  discard = true
  comit = true # ERROR: Unsupported argument | Did you mean "commit"?
}
