build {
  name = "everywhere"
  sources = [
    "source.docker.img",
    "source.qemu.vm",
    "source.amazon-ebs.ami",
    "source.null.none",
  ]

  provisioner "shell" {
    except = ["null.none"]
    script = "common/provision.sh"
  }

  provisioner "shell-local" {
    only   = ["null.none"]
    inline = ["echo nothing to provision"]
  }

  post-processor "manifest" {}
}
