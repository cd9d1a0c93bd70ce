source "docker" "committed" {
  image  = "bake.local/debian:bookworm"
  commit = true
}

source "docker" "exported" {
  image       = "bake.local/debian:bookworm"
  export_path = "exported.tar"
}

build {
  sources = ["source.docker.committed", "source.docker.exported"]

  post-processor "docker-save" {
    only = ["docker.committed"]
    path = "committed.tar"
  }

  post-processor "docker-import" {
    only       = ["docker.exported"]
    repository = "imported/debian"
    tag        = "1.0"
    changes    = ["CMD [\"/bin/sh\"]"]
  }
}
