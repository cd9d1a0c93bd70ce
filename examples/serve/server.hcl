# A bake serve configuration to start from: the systemd unit and the
# container image beside it read it as /etc/bake/server.hcl.
#
#   bake serve -check -config server.hcl      # validates it and its templates
#   bake token create -config server.hcl -role admin -name me

server {
  listen = "127.0.0.1:8080"
  # Run history, fetched git sources: the systemd unit's StateDirectory
  # and the image's volume. The database defaults to sqlite:STATE_DIR/bake.db;
  # for PostgreSQL: database = env("BAKE_DATABASE")  # postgres://USER@HOST/DB
  state_dir           = "/var/lib/bake"
  max_concurrent_runs = 2
}

pipeline "hello" {
  template = "../docker/hello.pkr.hcl" # relative to this file
  schedule = "0 2 * * *"               # nightly at 02:00
  timeout  = "30m"
  # sign_key = "/etc/bake/release.key"
  # publish  = "registry.example.com/golden/hello"
  # promote  = "nightly"
  # webhook {
  #   url    = "https://chat.example.com/hook"
  #   events = ["run.failed"]
  #   secret = env("HOOK_SECRET")
  # }
}
