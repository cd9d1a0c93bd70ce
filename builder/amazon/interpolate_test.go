package amazon

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
)

// TestBakeBuildInterpolation runs `bake build` on a template written as
// Packer users write it, with {{ }} interpolation in ami_name, the tags
// and ami_description, against the EC2 test server: the AMI is named
// golden-<the run's unix time> and tagged with its source AMI.
func TestBakeBuildInterpolation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bake binary")
	}
	srv := startSSHD(t)
	e := newEnv(t, srv, ec2test.Options{})
	// The source the filter picks carries a tag the template reads.
	src := e.ec2.AddImage("us-east-1", ec2test.Image{Name: "debian-12-amd64-20991231-9", Owner: debianOwner,
		CreationDate: time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC), Tags: map[string]string{"Release": "Bookworm"}})
	dir := t.TempDir()
	template := filepath.Join(dir, "golden.pkr.hcl")
	if err := os.WriteFile(template, []byte(fmt.Sprintf(`
source "amazon-ebs" "golden" {
  region              = "us-east-1"
  custom_endpoint_ec2 = %q
  access_key          = "AKIDBAKETEST"
  secret_key          = "bake-test-secret"
  ami_name            = "golden-{{timestamp}}"
  ami_description     = "{{ .SourceAMIName }} in {{ .BuildRegion }}"
  instance_type       = "t3.micro"
  ami_regions         = ["eu-west-1"]
  source_ami_filter {
    filters     = { name = "debian-12-amd64-*" }
    owners      = [%q]
    most_recent = true
  }
  tags = {
    Base    = "{{ .SourceAMI }}"
    Release = "{{ .SourceAMITags.Release | lower }}"
    Built   = "{{ timestamp }}"
    Name    = "{{ build_name }}"
    Region  = "{{ .BuildRegion }}"
  }
  snapshot_tags = { "{{ upper \"base\" }}" = "{{ .SourceAMI }}" }
  run_tags      = { Purpose = "bake {{ .SourceAMIOwner }}" }
  ssh_username  = "root"
  ssh_port      = %d
  ssh_timeout   = "1m"
  aws_polling {
    delay_seconds = 1
    max_attempts  = 120
  }
}

build {
  sources = ["source.amazon-ebs.golden"]
  provisioner "shell" {
    inline = ["echo {{ build_name }} from {{ build_type }} on port {{ .Port }}"]
  }
}
`, e.ec2.URL, debianOwner, srv.Port)), 0o644); err != nil {
		t.Fatal(err)
	}

	before := time.Now().Unix()
	cmd := exec.Command(bakebin.Path(t), "build", "-color=false", "-manifest", filepath.Join(dir, "m.json"), template)
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("bake build: %v\n%s", err, out.String())
	}
	after := time.Now().Unix()
	if want := fmt.Sprintf("golden from amazon-ebs on port %d", srv.Port); !bytes.Contains(out.Bytes(), []byte(want)) {
		t.Errorf("the provisioner did not print %q:\n%s", want, out.String())
	}

	inv := e.ec2.Inventory()
	var made []ec2test.Image
	var copied *ec2test.Image
	for _, img := range inv.Images {
		if img.SourceInstanceID != "" {
			made = append(made, img)
		}
		if img.SourceImageID != "" {
			copied = &img
		}
	}
	if len(made) != 1 || copied == nil {
		t.Fatalf("want one AMI made and one copy, got %+v and %+v", made, copied)
	}
	ami := made[0]
	m := regexp.MustCompile(`^golden-(\d+)$`).FindStringSubmatch(ami.Name)
	if m == nil {
		t.Fatalf("AMI name %q, want golden-<unix time>", ami.Name)
	}
	if ts, _ := strconv.ParseInt(m[1], 10, 64); ts < before-1 || ts > after {
		t.Errorf("AMI name %q: the time is not the run's (%d..%d)", ami.Name, before, after)
	}
	want := map[string]string{"Base": src, "Release": "bookworm", "Built": m[1], "Name": "golden", "Region": "us-east-1"}
	for k, v := range want {
		if ami.Tags[k] != v {
			t.Errorf("AMI tag %s = %q, want %q (tags %v)", k, ami.Tags[k], v, ami.Tags)
		}
	}
	if ami.Description != "debian-12-amd64-20991231-9 in us-east-1" {
		t.Errorf("AMI description %q", ami.Description)
	}
	// As in Packer, a copy's .BuildRegion is the copy's region.
	if copied.Name != ami.Name || copied.Tags["Base"] != src || copied.Tags["Region"] != "eu-west-1" ||
		copied.Description != "debian-12-amd64-20991231-9 in eu-west-1" {
		t.Errorf("the copy in eu-west-1: name %q, description %q, tags %v", copied.Name, copied.Description, copied.Tags)
	}
	for _, sn := range inv.Snapshots {
		if sn.Tags[TagRunID] != "" && sn.Tags["BASE"] != src {
			t.Errorf("snapshot %s tags %v, want BASE=%s", sn.ID, sn.Tags, src)
		}
	}
	if len(inv.Instances) != 1 || inv.Instances[0].Tags["Purpose"] != "bake "+debianOwner {
		t.Errorf("instance run_tags: %+v", inv.Instances)
	}
}
