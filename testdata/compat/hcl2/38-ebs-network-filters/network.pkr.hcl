source "amazon-ebs" "private" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ami_name      = "private-subnet"
  ssh_username  = "admin"
  ssh_interface = "private_ip"
  iam_instance_profile = "packer-build"
  user_data_file       = "user-data.sh"

  vpc_filter {
    filters = {
      "tag:Name" = "build-vpc"
    }
  }

  subnet_filter {
    filters = {
      "tag:Tier" = "private"
    }
    most_free = true
  }

  security_group_filter {
    filters = {
      "tag:Role" = "packer"
    }
  }
}

build {
  sources = ["source.amazon-ebs.private"]
}
