source "dockr" "x" { # ERROR: Unknown source type | Did you mean "docker"?
  image = "debian"
}
