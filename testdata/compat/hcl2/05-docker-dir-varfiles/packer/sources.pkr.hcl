source "docker" "app" {
  image  = var.image
  commit = true
  changes = [
    "LABEL version=${var.app_version}",
    "ENV ENVIRONMENT ${var.environment}",
  ]
}
