image  = "ubuntu"
imgae  = "typo" # WARNING: Undeclared variable | Did you mean "image"?
