packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.8"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "regions" {
  type    = list(string)
  default = ["us-west-2", "eu-west-1"]
}

source "amazon-ebs" "copies" {
  region             = "us-east-1"
  source_ami         = "ami-0abcdef1234567890"
  instance_type      = "t3.micro"
  ami_name           = "copies-{{ timestamp }}"
  ami_description    = "Encrypted copies in ${length(var.regions)} regions."
  ami_regions        = var.regions
  encrypt_boot       = true
  kms_key_id         = "alias/golden"
  region_kms_key_ids = { for r in var.regions : r => "alias/golden-${r}" }
  ami_users          = ["123456789012"]
  snapshot_users     = ["123456789012"]
  ssh_username       = "admin"
  force_deregister      = true
  force_delete_snapshot = true
}

build {
  sources = ["source.amazon-ebs.copies"]
}
