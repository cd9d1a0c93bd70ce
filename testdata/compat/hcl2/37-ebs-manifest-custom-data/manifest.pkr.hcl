source "amazon-ebs" "release" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ami_name      = "release-{{timestamp}}"
  ssh_username  = "admin"
}

build {
  sources = ["source.amazon-ebs.release"]

  post-processor "manifest" {
    output     = "packer-manifest.json"
    strip_path = true
    strip_time = false
    custom_data = {
      git_sha = "0123abc"
      channel = "nightly"
    }
  }

  post-processor "shell-local" {
    inline = ["jq -r '.builds[-1].artifact_id' packer-manifest.json"]
  }
}
