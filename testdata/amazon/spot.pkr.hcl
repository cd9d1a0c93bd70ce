# A spot build with IMDSv2 required and a temporary instance profile, as
# an assumed role, in the shape real pipelines write it. builder/amazon's
# TestBakeBuildSpot runs it against the EC2 test server, which answers
# IAM and STS too (AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL_STS).

variable "endpoint" {
  type = string
}

variable "ssh_port" {
  type = number
}

source "amazon-ebs" "spot" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.endpoint
  access_key          = "AKIDBAKETEST"
  secret_key          = "bake-test-secret"
  assume_role {
    role_arn     = "arn:aws:iam::123456789012:role/image-builder"
    session_name = "nightly"
  }

  ami_name = "spot-debian-12"
  source_ami_filter {
    filters = {
      name = "debian-12-amd64-*"
    }
    owners      = ["136693071363"]
    most_recent = true
  }

  spot_price               = "auto"
  spot_instance_types      = ["t3a.micro", "t3.micro"]
  spot_allocation_strategy = "price-capacity-optimized"
  spot_tags = {
    request = "nightly"
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  imds_support = "v2.0"
  deprecate_at = "2030-01-01T00:00:00Z"

  temporary_iam_instance_profile_policy_document {
    Version = "2012-10-17"
    Statement {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::artifacts/*"]
    }
  }

  ssh_username = "root"
  ssh_port     = var.ssh_port
  ssh_timeout  = "1m"
  aws_polling {
    delay_seconds = 1
    max_attempts  = 120
  }
}

build {
  sources = ["source.amazon-ebs.spot"]

  provisioner "shell" {
    inline = ["echo spot instance up: $(uname -s)"]
  }
}
