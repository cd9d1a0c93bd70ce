data "amazon-amy" "base" { # ERROR: Unknown data source type | Did you mean "amazon-ami"?
  owners = ["self"]
}
