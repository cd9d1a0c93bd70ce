package amazon

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
)

// TestBakeBuild runs testdata/amazon through `bake build` against the EC2
// test server, then interrupts a second run.
func TestBakeBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bake binary")
	}
	srv := startSSHD(t)
	bin := bakebin.Path(t)
	run := func(t *testing.T, e *env, dir string, extra ...string) *exec.Cmd {
		return templateBuild(t, bin, e, srv.Port, dir, filepath.Join(dir, "marker"), extra...)
	}

	t.Run("build", func(t *testing.T) {
		e := newEnv(t, srv, ec2test.Options{})
		dir := t.TempDir()
		cmd := run(t, e, dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("bake build: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "provisioned by bake on Linux") {
			t.Errorf("no provisioning output:\n%s", out.String())
		}
		inv := e.ec2.Inventory()
		// The build's instance, then the test's, launched from the new
		// AMI in the build region; both terminated.
		var newAMI string
		for _, img := range inv.Images {
			if img.Name == "golden-debian-12" && img.Region == "us-east-1" {
				newAMI = img.ID
			}
		}
		launched := map[string]string{} // image -> state
		for _, in := range inv.Instances {
			launched[in.ImageID] = in.State
		}
		if len(inv.Instances) != 2 || launched[e.newest] != "terminated" || launched[newAMI] != "terminated" {
			t.Errorf("instances %+v, want one of %s and one of the new AMI %s, terminated", inv.Instances, e.newest, newAMI)
		}
		if len(inv.KeyPairs)+len(inv.SecurityGroups) != 0 {
			t.Errorf("left: %+v %+v", inv.KeyPairs, inv.SecurityGroups)
		}
		calls := strings.Join(e.ec2.Actions(), " ")
		for _, a := range []string{"CreateKeyPair", "DeleteKeyPair", "CreateSecurityGroup", "DeleteSecurityGroup", "CopyImage", "ModifyImageAttribute"} {
			if !strings.Contains(calls, a) {
				t.Errorf("no %s call", a)
			}
		}
		amis := map[string]ec2test.Image{}
		for _, img := range inv.Images {
			if img.Name == "golden-debian-12" {
				amis[img.Region] = img
				if img.Tags["base"] != e.newest || img.Tags[TagBuild] != "amazon-ebs.golden" || img.Tags[TagRunID] == "" || !img.Public {
					t.Errorf("AMI %+v", img)
				}
			}
		}
		if len(amis) != 3 {
			t.Fatalf("AMIs by region: %+v", amis)
		}
		builds := manifesttest.Builds(t, filepath.Join(dir, "m.json"))
		if len(builds) != 1 || builds[0].Status != "succeeded" || len(builds[0].Artifacts) != 3 {
			t.Fatalf("manifest builds: %+v", builds)
		}
		if tests := builds[0].Tests; len(tests) != 1 || tests[0].Name != "marker" || tests[0].Status != "passed" {
			t.Errorf("manifest tests: %+v", tests)
		}

		// The SBOM was read through the SSH communicator from the
		// "instance" (the test's sshd on this Debian host): it lists what
		// dpkg-query -W lists here. The provenance names the source AMI.
		sbomOut, err := exec.Command(bin, "sbom", filepath.Join(dir, "m.json"), "-build", "amazon-ebs.golden", "-allow-unsigned", "-packages").Output()
		if err != nil {
			t.Fatalf("bake sbom: %v", err)
		}
		dpkg, err := exec.Command("dpkg-query", "-W").Output()
		if err != nil {
			t.Fatalf("dpkg-query: %v", err)
		}
		var got, want []string
		for _, l := range strings.Split(strings.TrimSpace(string(sbomOut)), "\n") {
			if f := strings.Fields(l); len(f) == 3 {
				got = append(got, f[0]+" "+f[1])
			}
		}
		for _, l := range strings.Split(strings.TrimSpace(string(dpkg)), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				name, _, _ := strings.Cut(f[0], ":") // binutils-common:amd64
				want = append(want, name+" "+f[1])
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if len(want) < 50 || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("SBOM lists %d packages, dpkg-query -W %d; they differ", len(got), len(want))
		}
		prov := manifesttest.Payload(t, filepath.Join(dir, "m.provenance.sigstore.json"))
		if !strings.Contains(string(prov), "arn:aws:ec2:us-east-1::image/"+e.newest) {
			t.Errorf("provenance does not name the source AMI %s", e.newest)
		}
		// verify -policy: a rule that holds and one that does not.
		policy := filepath.Join(dir, "policy.hcl")
		os.WriteFile(policy, []byte(`rule "tested" {
  expr = "builds.all(b, b.tests.all(t, t.status == 'passed'))"
}
rule "has-openssh" {
  expr = "packages.exists(p, p.name == 'openssh-server')"
}
rule "no-bash" {
  expr = "!packages.exists(p, p.name == 'bash')"
}
`), 0o644)
		vout, err := exec.Command(bin, "verify", "-allow-unsigned", "-policy", policy, filepath.Join(dir, "m.json")).CombinedOutput()
		var ve *exec.ExitError
		if !errors.As(err, &ve) || ve.ExitCode() != 1 || !strings.Contains(string(vout), "PASS  tested") ||
			!strings.Contains(string(vout), "PASS  has-openssh") || !strings.Contains(string(vout), "FAIL  no-bash") {
			t.Errorf("verify -policy: %v\n%s", err, vout)
		}
		for _, a := range builds[0].Artifacts {
			if a.ExternalIdentifier != amis[a.Region].ID || a.URI != "arn:aws:ec2:"+a.Region+"::image/"+a.ExternalIdentifier {
				t.Errorf("manifest artifact %+v, AMIs %v", a, amis)
			}
		}
	})

	t.Run("failing test", func(t *testing.T) {
		// The test exits 5: the build fails, its AMIs and snapshots in
		// every region go, and no instance runs.
		e := newEnv(t, srv, ec2test.Options{})
		dir := t.TempDir()
		cmd := run(t, e, dir, "-var", "test_exit=5")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("bake build exited with %v, want 1\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "tested") {
			t.Errorf("the test did not run:\n%s", out.String())
		}
		e.assertClean(t, "")
		builds := manifesttest.Builds(t, filepath.Join(dir, "m.json"))
		if len(builds) != 1 || builds[0].Status != "failed" || len(builds[0].Artifacts) != 0 ||
			len(builds[0].Tests) != 1 || builds[0].Tests[0].ExitStatus != 5 {
			t.Errorf("manifest builds: %+v", builds)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		// The instance runs for as long as the image is pending: interrupt
		// then.
		e := newEnv(t, srv, ec2test.Options{Delays: ec2test.Delays{ImagePending: ec2test.Forever}})
		dir := t.TempDir()
		cmd := run(t, e, dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(e.ec2.Inventory().Images) < 5 {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("no AMI pending after 30s:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 130 {
			t.Errorf("bake build exited with %v, want 130\n%s", err, out.String())
		}
		e.assertClean(t, "")
	})
}

// TestBakeBuildSpot runs testdata/amazon/spot.pkr.hcl through `bake
// build`: a spot instance with IMDSv2 and a temporary instance profile,
// as an assumed role. The AMI requires IMDSv2, and nothing else is left:
// no instance, fleet, launch template, role, policy or instance profile.
func TestBakeBuildSpot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bake binary")
	}
	srv := startSSHD(t)
	bin := bakebin.Path(t)
	template, err := filepath.Abs("../../testdata/amazon/spot.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, srv, ec2test.Options{NoSpotCapacity: []string{"t3a.micro"}, ProfileLag: 2})
	dir := t.TempDir()
	cmd := exec.Command(bin, "build", "-color=false", "-manifest", filepath.Join(dir, "m.json"),
		"-var", "endpoint="+e.ec2.URL, "-var", "ssh_port="+strconv.Itoa(srv.Port), template)
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_ENDPOINT_URL_IAM="+e.ec2.URL, "AWS_ENDPOINT_URL_STS="+e.ec2.URL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("bake build: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "spot instance up: Linux") {
		t.Errorf("no provisioning output:\n%s", out.String())
	}
	inv := e.ec2.Inventory()
	if len(inv.Instances) != 1 {
		t.Fatalf("instances %+v", inv.Instances)
	}
	in := inv.Instances[0]
	if !in.Spot || in.InstanceType != "t3.micro" || in.State != "terminated" || in.MetadataOptions["HttpTokens"] != "required" ||
		!strings.Contains(in.IAMInstanceProfile, ":instance-profile/bake_") {
		t.Errorf("instance: spot %v, type %s, state %s, metadata %v, profile %q", in.Spot, in.InstanceType, in.State, in.MetadataOptions, in.IAMInstanceProfile)
	}
	// The first two fleets met an instance profile EC2 did not know yet
	// (ProfileLag), and were deleted before the next try.
	if len(inv.Fleets) != 3 || len(inv.LaunchTemplates) != 0 || strings.Count(out.String(), "EC2 does not know instance profile") != 2 {
		t.Errorf("fleets %+v, launch templates %+v\n%s", inv.Fleets, inv.LaunchTemplates, out.String())
	}
	for _, f := range inv.Fleets {
		if f.State == "active" {
			t.Errorf("fleet left: %+v", f)
		}
	}
	iam := e.ec2.IAM()
	if len(iam.Roles)+len(iam.InstanceProfiles) != 0 || len(iam.Sessions) != 1 || iam.Sessions[0].SessionName != "nightly" {
		t.Errorf("IAM after the build: %+v", iam)
	}
	var ami ec2test.Image
	for _, img := range inv.Images {
		if img.Name == "spot-debian-12" {
			ami = img
		}
	}
	if ami.IMDSSupport != "v2.0" || ami.DeprecationTime.Year() != 2030 {
		t.Errorf("AMI %+v", ami)
	}
	builds := manifesttest.Builds(t, filepath.Join(dir, "m.json"))
	if len(builds) != 1 || builds[0].Status != "succeeded" || len(builds[0].Artifacts) != 1 || builds[0].Artifacts[0].ExternalIdentifier != ami.ID {
		t.Errorf("manifest builds %+v, AMI %s", builds, ami.ID)
	}
	for _, c := range e.ec2.Calls() {
		if c.Service != "sts" && c.AccessKey == "AKIDBAKETEST" {
			t.Errorf("%s %s made with the template's key, not the assumed role's", c.Service, c.Action)
		}
	}
}
