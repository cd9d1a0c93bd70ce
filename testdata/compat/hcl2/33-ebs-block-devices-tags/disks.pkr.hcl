locals {
  common_tags = {
    Project = "golden"
    Owner   = "platform"
  }
}

source "amazon-ebs" "disks" {
  region        = "eu-west-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "m5.large"
  ami_name      = "disks-{{ timestamp }}"
  ssh_username  = "admin"

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 30
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  tags          = merge(local.common_tags, { Name = "disks" })
  run_tags      = local.common_tags
  snapshot_tags = local.common_tags
}

build {
  sources = ["source.amazon-ebs.disks"]
}
