# The AMI that channel "prod" of the golden image points at, verified
# with the release public key, for an aws_instance or a launch template.
data "external" "golden" {
  program = ["sh", "${path.module}/resolve-external.sh"]
  query = {
    ref          = "registry.example.com/golden/base:prod"
    build        = "amazon-ebs.base"
    region       = "eu-west-1"
    key          = "${path.module}/release.pub"
    min_sequence = "0" # raise to the last sequence you deployed to refuse replayed records
  }
}

resource "aws_instance" "web" {
  ami           = data.external.golden.result.id
  instance_type = "t3.micro"
  tags = {
    "bake:version"  = data.external.golden.result.version
    "bake:sequence" = data.external.golden.result.sequence
  }
}
