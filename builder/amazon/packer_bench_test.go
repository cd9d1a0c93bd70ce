package amazon

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
)

// BenchmarkPackerEC2 builds one template with the bake binary and, where
// `packer` (1.9, with its bundled amazon plugin) is on PATH, with Packer,
// both against the EC2 test server with every state change taking 1 s
// and the AMI copied to a second region: the same work as
// BenchmarkSlowEC2, through the whole program on both sides. Each run
// must leave an available AMI in both regions and no instance, key pair
// or security group. bake runs as a user runs it, writing its run
// manifest (and the SBOM from its package inventory) into a temporary
// directory.
// It reports bake-s/op, packer-s/op and packer/bake
// (go test -run '^$' -bench PackerEC2 -benchtime 1x ./builder/amazon/).
func BenchmarkPackerEC2(b *testing.B) {
	bake := bakebin.Path(b)
	packer, _ := exec.LookPath("packer")
	srv := startSSHD(b)
	second := time.Second
	e := newEnv(b, srv, ec2test.Options{Delays: ec2test.Delays{
		InstancePending: second, InstanceStopping: second, InstanceShuttingDown: second,
		ImagePending: second, CopyPending: second, SnapshotPending: second,
	}})
	dir := b.TempDir()
	template := filepath.Join(dir, "ec2.pkr.hcl")
	src := fmt.Sprintf(`variable "ami_name" {
  type = string
}

source "amazon-ebs" "bench" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = %q
  access_key                 = "AKIDBAKETEST"
  secret_key                 = "secret"
  skip_region_validation     = true
  skip_credential_validation = true
  skip_metadata_api_check    = true
  ami_name                   = var.ami_name
  ami_regions                = ["us-west-2"]
  instance_type              = "t3.micro"
  source_ami_filter {
    filters     = { name = "debian-12-amd64-*" }
    owners      = [%q]
    most_recent = true
  }
  ssh_username = "root"
  ssh_port     = %d
  ssh_timeout  = "1m"
}

build {
  sources = ["source.amazon-ebs.bench"]

  provisioner "shell" {
    inline = ["true"]
  }
}
`, e.ec2.URL, debianOwner, srv.Port)
	if err := os.WriteFile(template, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "CHECKPOINT_DISABLE=1", "AWS_EC2_METADATA_DISABLED=true",
		"PACKER_CACHE_DIR="+filepath.Join(dir, "packer-cache"), "PACKER_CONFIG_DIR="+filepath.Join(dir, "packer-config"),
		"BAKE_NO_CACHE=1", "AWS_POLL_DELAY_SECONDS=", "AWS_MAX_ATTEMPTS=")
	run := func(name string, argv ...string) time.Duration {
		b.Helper()
		ami := fmt.Sprintf("bench-%s-%d", name, time.Now().UnixNano())
		argv = append(argv, "-var", "ami_name="+ami, template)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		took := time.Since(t0)
		if err != nil {
			b.Fatalf("%s build: %v\n%s", name, err, out.Bytes())
		}
		regions := map[string]bool{}
		for _, img := range e.ec2.Inventory().Images {
			if img.Name == ami && img.State == "available" {
				regions[img.Region] = true
			}
		}
		if !regions["us-east-1"] || !regions["us-west-2"] {
			b.Fatalf("%s build: AMI %s available in %v, want us-east-1 and us-west-2\n%s", name, ami, regions, out.Bytes())
		}
		inv := e.ec2.Inventory()
		for _, in := range inv.Instances {
			if in.State != "terminated" && in.State != "shutting-down" {
				b.Fatalf("%s build left instance %s %s", name, in.ID, in.State)
			}
		}
		if len(inv.KeyPairs) > 0 || len(inv.SecurityGroups) > 0 {
			b.Fatalf("%s build left key pairs %v and security groups %v", name, inv.KeyPairs, inv.SecurityGroups)
		}
		return took
	}
	var baked, packed time.Duration
	for range b.N {
		baked += run("bake", bake, "build", "-color=false")
		if packer != "" {
			packed += run("packer", packer, "build", "-color=false")
		}
	}
	n := float64(b.N)
	b.ReportMetric(baked.Seconds()/n, "bake-s/op")
	if packer != "" {
		b.ReportMetric(packed.Seconds()/n, "packer-s/op")
		b.ReportMetric(packed.Seconds()/baked.Seconds(), "packer/bake")
	}
}
