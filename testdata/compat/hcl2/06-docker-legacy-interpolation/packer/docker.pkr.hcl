source "docker" "debian" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

build {
  sources = ["source.docker.debian"]

  provisioner "shell" {
    execute_command  = "chmod +x {{ .Path }}; {{ .Vars }} sh -eux '{{ .Path }}'"
    environment_vars = ["BUILD_NAME={{ build_name }}", "BUILDER={{ build_type }}", "STAMP={{ timestamp }}"]
    inline           = ["echo $BUILD_NAME $BUILDER $STAMP"]
  }

  provisioner "shell" {
    inline = ["echo built by {{ packer_version }} in {{ template_dir }}"]
  }

  post-processor "docker-tag" {
    repository = "{{ lower `Debian-Base` }}"
    tags       = ["{{ isotime `20060102` }}"]
  }
}
