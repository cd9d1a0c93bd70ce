source "docker" "app" {
  image       = "bake.local/debian:bookworm"
  commit      = true
  pull        = false
  run_command = ["-d", "-i", "-t", "--entrypoint=/bin/sh", "--", "{{.Image}}"]
  changes = [
    "USER nobody",
    "EXPOSE 8080",
    "LABEL maintainer=infra@example.com version=1.0",
    "ENTRYPOINT [\"/usr/local/bin/app\"]",
    "VOLUME /data",
  ]
}

build {
  sources = ["docker.app"]

  provisioner "shell" {
    inline = ["mkdir -p /data", "echo ok > /usr/local/bin/app", "chmod +x /usr/local/bin/app"]
  }
}
