build { # ERROR: Build has no sources
  name = "empty"
}
