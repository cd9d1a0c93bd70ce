# Packer's {{ }} interpolation: unknown names and refused functions are
# errors at validate, at the attribute (or the list element or map key).
source "amazon-ebs" "x" {
  ami_name      = "golden-{{ timestmp }}" # ERROR: Invalid {{ }} interpolation | unknown function timestmp; did you mean timestamp?
  instance_type = "t3.micro"
  region        = "eu-west-1"
  source_ami    = "ami-0123456789abcdef0"
  ssh_username  = "admin"
  tags = {
    Base = "{{ .SourceAMI }}"
    Typo = "{{ .SourceAmi }}" # ERROR: Invalid {{ }} interpolation | In "tags" key "Typo": unknown field .SourceAmi
    Pass = "{{ vault `secret/x` `pw` }}" # ERROR: Invalid {{ }} interpolation | the function vault is not supported
  }
  run_tags = {
    Name = "{{ .SourceAMITags.Name }}-{{ isotime `2006` }}"
  }
  ami_description = "{{ consul_key `k` }}" # ERROR: Invalid {{ }} interpolation | the function consul_key is not supported
}

source "amazon-ebs" "name_checked_after_rendering" {
  ami_name      = "{{ upper `a` }}" # ERROR: Invalid AMI name | 3 to 128 characters
  instance_type = "t3.micro"
  region        = "eu-west-1"
  source_ami    = "ami-0123456789abcdef0"
  ssh_username  = "admin"
}

source "amazon-ebs" "fields_only_where_the_kind_renders_them" {
  ami_name      = "golden-{{ .SourceAMI }}" # ERROR: Invalid {{ }} interpolation | unknown field .SourceAMI: this option has no {{ }} fields
  instance_type = "t3.micro"
  region        = "eu-west-1"
  source_ami    = "ami-0123456789abcdef0"
  ssh_username  = "admin"
}

build {
  sources = ["source.amazon-ebs.x", "source.amazon-ebs.name_checked_after_rendering", "source.amazon-ebs.fields_only_where_the_kind_renders_them"]

  provisioner "shell" {
    inline = [
      "echo {{ build_name }} on {{ .Host }}",
      "echo {{ .Path }}", # ERROR: Invalid {{ }} interpolation | In "inline" element 2: unknown field .Path
    ]
    execute_command = "sudo sh -c '{{ .Vars }} {{ .Paht }}'" # ERROR: Invalid {{ }} interpolation | did you mean .Path?
  }
}
