source "amazon-ebs" "clean" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ami_name      = "{{ clean_resource_name `golden: build #42` }}-{{ isotime `2006-01-02` }}"
  ssh_username  = "admin"
}

build {
  sources = ["source.amazon-ebs.clean"]
}
