build {
  name    = "base"
  sources = ["source.amazon-ebs.base"]

  provisioner "shell" {
    scripts = [for f in sort(fileset(".", "scripts/*.sh")) : "${path.root}/${f}"]
  }
}
