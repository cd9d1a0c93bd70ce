source "docker" "flaky" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

build {
  sources = ["source.docker.flaky"]

  provisioner "shell" {
    pause_before = "2s"
    max_retries  = 3
    timeout      = "5m"
    inline       = ["apt-get update"]
  }

  provisioner "shell" {
    valid_exit_codes  = [0, 2]
    expect_disconnect = true
    inline            = ["exit 2"]
  }

  error-cleanup-provisioner "shell-local" {
    inline = ["echo the build failed, collecting logs"]
  }
}
