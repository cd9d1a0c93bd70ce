server {
  listen              = "127.0.0.1:8080"
  database            = env("BAKE_TEST_DSN")
  max_concurrent_runs = 3
  token "ci" {
    role   = "operator"
    sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
  }
}

pipeline "nightly" {
  template    = "templates/docker.pkr.hcl"
  variables   = { tag = "x" }
  var_files   = ["prod.pkrvars.hcl"]
  only        = ["docker.*"]
  schedule    = "0 2 * * *"
  sign_key    = "keys/release.key"
  publish     = "127.0.0.1:5000/golden"
  promote     = "nightly"
  concurrency = 1
  timeout     = "30m"
  webhook {
    url    = "https://chat.example.com/hook"
    events = ["run.failed", "run.succeeded"]
    secret = env("HOOK_SECRET")
  }
}

pipeline "from-git" {
  git {
    url    = "https://git.example.com/images.git"
    ref    = "main"
    subdir = "base"
  }
  template = "docker.pkr.hcl"
}
