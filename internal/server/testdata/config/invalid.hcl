server {
  listen   = "no-port"
  database = "mysql://u:hunter2@db/bake"
  token "t" {
    role   = "root"
    sha256 = "hunter2"
  }
}

pipeline "a" {
  schedule    = "every day at two"
  publish     = "https://reg/x"
  promote     = "prod"
  concurrency = 0
  timeout     = "soon"
  tmeplate    = "x"
  webhook {
    url    = "ftp://x"
    events = ["run.exploded"]
  }
}

pipeline "a" {
  template = "y"
}
