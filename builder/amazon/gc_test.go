package amazon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
)

// TestGCAfterSIGKILL kills the real bake binary at the steps of an
// amazon-ebs build that leave something in EC2 (the EC2 test server),
// then runs `bake gc -run-id RUN -region … -endpoint …`: what the kill
// left (key pair, security group, instance, AMIs in two regions and their
// snapshots) is there before and gone after.
func TestGCAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the bake binary")
	}
	srv := startSSHD(t)
	bin := bakebin.Path(t)
	points := []struct {
		step  string
		extra string // more of the source block
		// want counts what the kill leaves: live instances, key pairs,
		// security groups, AMIs made by the run, launch templates and
		// active fleets.
		instances, keys, groups, amis, templates, fleets int
		roles                                            int // and as many instance profiles
	}{
		{step: "create temporary key pair", keys: 1},
		{step: "launch instance", instances: 1, keys: 1, groups: 1},
		{step: "create AMI", instances: 1, keys: 1, groups: 1, amis: 1},
		{step: "copy AMI to regions", instances: 1, keys: 1, groups: 1, amis: 2},
		{step: "launch spot instance", extra: "spot_price = \"auto\"\n" + policyBlock, instances: 1, keys: 1, groups: 1, templates: 1, fleets: 1, roles: 1},
	}
	for _, p := range points {
		t.Run(p.step, func(t *testing.T) {
			e := newEnv(t, srv, ec2test.Options{})
			dir := t.TempDir()
			template := filepath.Join(dir, "gc.pkr.hcl")
			src := "source \"amazon-ebs\" \"gc\" {\n" + e.hcl("bake-gc-test", "ami_regions = [\"us-west-2\"]\n"+p.extra) + "}\n" +
				"build {\n  sources = [\"source.amazon-ebs.gc\"]\n}\n"
			if err := os.WriteFile(template, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			env := bakebin.Env(t, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
				"AWS_ACCESS_KEY_ID=AKIDBAKETEST", "AWS_SECRET_ACCESS_KEY=secret")
			cmd := exec.Command(bin, "build", "-json", "-debug", "-manifest", "", template)
			cmd.Env = env
			cmd.Dir = dir // -debug writes the temporary key (ec2_gc.pem) there
			runID, out := bakebin.KillAt(t, cmd, bakebin.KillPoint{Step: p.step})

			inv := e.ec2.Inventory()
			amis := 0
			for _, img := range inv.Images {
				if img.Tags[TagRunID] == runID {
					amis++
				}
			}
			fleets := 0
			for _, f := range inv.Fleets {
				if f.State == "active" {
					fleets++
				}
			}
			if got := len(inv.InstancesIn("pending", "running", "stopping", "stopped")); got != p.instances ||
				len(inv.KeyPairs) != p.keys || len(inv.SecurityGroups) != p.groups || amis != p.amis ||
				len(inv.LaunchTemplates) != p.templates || fleets != p.fleets ||
				len(e.ec2.IAM().Roles) != p.roles || len(e.ec2.IAM().InstanceProfiles) != p.roles {
				t.Fatalf("after SIGKILL after %q: %d instances, %d key pairs, %d groups, %d AMIs, %d launch templates, %d fleets, IAM %+v; want %d, %d, %d, %d, %d, %d, %d roles\n%s",
					p.step, got, len(inv.KeyPairs), len(inv.SecurityGroups), amis, len(inv.LaunchTemplates), fleets, e.ec2.IAM(),
					p.instances, p.keys, p.groups, p.amis, p.templates, p.fleets, p.roles, out)
			}

			gcOut := bakebin.GC(t, env, "-run-id", runID, "-region", "us-east-1,us-west-2", "-endpoint", e.ec2.URL)
			e.assertClean(t, runID)
			t.Logf("bake gc:\n%s", gcOut)
			if strings.Contains(gcOut, "kept") && !strings.Contains(gcOut, "kept 0") {
				t.Errorf("bake gc kept something:\n%s", gcOut)
			}
		})
	}
}
