package amazon

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
)

// TestBakeBuildFailedPostProcessorKeepsAMI: a post-processor that fails
// after the AMI is made leaves the AMI in place, as Packer does; `bake
// build` lists it in the run manifest under the failed build and the
// summary says it may remain. Nothing else is left.
func TestBakeBuildFailedPostProcessorKeepsAMI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bake binary")
	}
	srv := startSSHD(t)
	e := newEnv(t, srv, ec2test.Options{})
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "pp.pkr.hcl")
	src := "source \"amazon-ebs\" \"pp\" {\n" + e.hcl("bake-pp-failed", "") + "}\n" + `
build {
  sources = ["source.amazon-ebs.pp"]
  post-processor "shell-local" {
    inline = ["exit 1"]
  }
}
`
	if err := os.WriteFile(tmpl, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "m.json")
	cmd := exec.Command(bakebin.Path(t), "build", "-color=false", "-manifest", manifest, tmpl)
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("bake build: %v, want exit 1\n%s", err, out.String())
	}

	var ami ec2test.Image
	for _, img := range e.ec2.Inventory().Images {
		if img.Name == "bake-pp-failed" {
			ami = img
		}
	}
	if ami.ID == "" || ami.State != "available" {
		t.Fatalf("no AMI bake-pp-failed in place: %+v", e.ec2.Inventory().Images)
	}
	builds := manifesttest.Builds(t, manifest)
	if len(builds) != 1 || builds[0].Status != "failed" || len(builds[0].Artifacts) != 1 ||
		builds[0].Artifacts[0].ExternalIdentifier != ami.ID || builds[0].Artifacts[0].Region != "us-east-1" {
		t.Fatalf("the run manifest records %+v, want the failed build with %s", builds, ami.ID)
	}
	if !strings.Contains(out.String(), "may remain (artifact of this build): amazon-ebs: ") || !strings.Contains(out.String(), ami.ID) {
		t.Errorf("the summary does not say %s may remain:\n%s", ami.ID, out.String())
	}
	inv := e.ec2.Inventory()
	if live := inv.InstancesIn("pending", "running", "stopping", "stopped"); len(live)+len(inv.KeyPairs)+len(inv.SecurityGroups) > 0 {
		t.Errorf("left: instances %+v, key pairs %+v, security groups %+v", live, inv.KeyPairs, inv.SecurityGroups)
	}
}
