sourc "docker" "x" { # ERROR: Unsupported block type | Did you mean "source"?
  image = "debian"
}
