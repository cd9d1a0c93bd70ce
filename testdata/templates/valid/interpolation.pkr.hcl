# Packer's {{ }} interpolation inside HCL2 strings, as real templates use
# it. Engine functions are rendered when the template is loaded ({{timestamp}}
# is the run's time, the same everywhere); the fields a kind knows only while
# the build runs stay for the kind to render.
source "amazon-ebs" "golden" {
  ami_name        = "golden-{{timestamp}}"
  ami_description = "from {{ .SourceAMIName }} on {{ isotime `2006-01-02` }}"
  instance_type   = "t3.micro"
  region          = "eu-west-1"
  source_ami      = "ami-0123456789abcdef0"
  ssh_username    = "admin"
  tags = {
    Base    = "{{ .SourceAMI }}"
    Name    = "{{ build_name }}-{{ build_type }}"
    Built   = "{{ timestamp }}"
    Release = "{{ .SourceAMITags.Release | lower }}"
  }
  snapshot_tags = {
    "{{ upper `owner` }}" = "{{ split `team-web-1` `-` 1 }}"
  }
}

source "qemu" "vm" {
  iso_url          = "https://example.com/debian.iso"
  iso_checksum     = "none"
  output_directory = "out-{{ timestamp }}"
  boot_command     = ["<tab> ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg<enter>"]
  qemuargs         = [["-name", "{{ .Name }}-{{ timestamp }}"]]
  ssh_username     = "root"
}

build {
  sources = ["source.amazon-ebs.golden", "source.qemu.vm"]

  provisioner "shell" {
    execute_command = "sudo -S sh -c '{{ .Vars }} {{ .Path }}'"
    inline          = ["echo built {{ isotime `20060102` }} by {{ packer_version }}"]
  }

  post-processor "checksum" {
    output = "{{ .BuildName }}-{{ timestamp }}.{{ .ChecksumType }}"
  }
}
