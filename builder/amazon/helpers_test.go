package amazon

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/internal/testutil/sshd"
)

// debianOwner owns the base images the tests build from.
const debianOwner = "136693071363"

// env is one test's cloud: an EC2 test server whose instances answer SSH
// through a real sshd, and base images in us-east-1.
type env struct {
	ec2    *ec2test.Server
	sshd   *sshd.Server
	newest string // the newest debian-12 image
	older  string
}

// newEnv starts an EC2 test server wired to srv (started with startSSHD).
func newEnv(t testing.TB, srv *sshd.Server, opts ec2test.Options) *env {
	t.Helper()
	e := &env{sshd: srv}
	opts.OnLaunch = func(_ ec2test.Instance, key string) {
		if key == "" {
			return
		}
		// What cloud-init does with the key pair: authorize it.
		f, err := os.OpenFile(filepath.Join(srv.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = f.WriteString(key)
	}
	e.ec2 = ec2test.Start(t, opts)
	// The server answers IAM and STS too, where the SDK looks for their
	// endpoints.
	t.Setenv("AWS_ENDPOINT_URL_IAM", e.ec2.URL)
	t.Setenv("AWS_ENDPOINT_URL_STS", e.ec2.URL)
	e.older = e.ec2.AddImage("us-east-1", ec2test.Image{Name: "debian-12-amd64-20240101-1", Owner: debianOwner,
		CreationDate: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	e.newest = e.ec2.AddImage("us-east-1", ec2test.Image{Name: "debian-12-amd64-20240610-2", Owner: debianOwner,
		CreationDate: time.Date(2024, 6, 10, 0, 0, 0, 0, time.UTC)})
	e.ec2.AddImage("us-east-1", ec2test.Image{Name: "debian-12-amd64-20240301-3", Owner: debianOwner,
		CreationDate: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)})
	e.ec2.AddImage("us-east-1", ec2test.Image{Name: "debian-12-amd64-20250101-evil", Owner: "666666666666",
		CreationDate: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	return e
}

// startSSHD starts the sshd the instances answer with.
func startSSHD(t testing.TB) *sshd.Server {
	t.Helper()
	return sshd.Start(t, sshd.Options{})
}

// hcl returns an amazon-ebs block for the env with extra lines appended.
func (e *env) hcl(amiName, extra string) string {
	return fmt.Sprintf(`region = "us-east-1"
custom_endpoint_ec2 = %q
access_key = "AKIDBAKETEST"
secret_key = "secret"
ami_name = %q
instance_type = "t3.micro"
source_ami_filter {
  filters = { name = "debian-12-amd64-*" }
  owners = [%q]
  most_recent = true
}
ssh_username = "root"
ssh_port = %d
ssh_timeout = "30s"
aws_polling {
  delay_seconds = 1
  max_attempts = 500
}
%s
`, e.ec2.URL, amiName, debianOwner, e.sshd.Port, extra)
}

func (e *env) config(t *testing.T, amiName, extra string) *Config {
	t.Helper()
	cfg := new(Config)
	configtest.MustPrepare(t, "amazon-ebs", e.hcl(amiName, extra), cfg)
	return cfg
}

// fast is the tuning of test builds: one delay_seconds is 10ms, backoffs
// are short, and the budget does not get in the way.
var fast = tuning{maxBackoff: 5 * time.Millisecond, pollUnit: 10 * time.Millisecond, rate: 10000, burst: 10000}

func newTestBuilder(cfg *Config, opts builder.Options, t tuning) *Builder {
	b := New(cfg, opts)
	b.tuning = t
	return b
}

// assertClean fails t unless the inventory holds no live instance, key
// pair or security group, and no AMI or snapshot made by runID.
func (e *env) assertClean(t *testing.T, runID string) {
	t.Helper()
	inv := e.ec2.Inventory()
	if live := inv.InstancesIn("pending", "running", "stopping", "stopped"); len(live) > 0 {
		t.Errorf("instances left: %+v", live)
	}
	if len(inv.KeyPairs) > 0 {
		t.Errorf("key pairs left: %+v", inv.KeyPairs)
	}
	if len(inv.SecurityGroups) > 0 {
		t.Errorf("security groups left: %+v", inv.SecurityGroups)
	}
	for _, img := range inv.Images {
		if img.Owner != debianOwner && img.Owner != "666666666666" {
			t.Errorf("AMI left: %s %s in %s (%s) tags %v", img.ID, img.Name, img.Region, img.State, img.Tags)
		}
	}
	iam := e.ec2.IAM()
	for _, r := range iam.Roles {
		t.Errorf("role left: %s with policies %v", r.Name, r.Policies)
	}
	for _, p := range iam.InstanceProfiles {
		t.Errorf("instance profile left: %s with roles %v", p.Name, p.Roles)
	}
	for _, lt := range inv.LaunchTemplates {
		t.Errorf("launch template left: %s %s", lt.ID, lt.Name)
	}
	for _, f := range inv.Fleets {
		if f.State == "active" {
			t.Errorf("fleet left: %s", f.ID)
		}
	}
	for _, sn := range inv.Snapshots {
		if runID != "" && sn.Tags[TagRunID] == runID || strings.Contains(sn.Description, "CreateImage") || strings.Contains(sn.Description, "Copied") {
			t.Errorf("snapshot left: %s in %s: %s", sn.ID, sn.Region, sn.Description)
		}
	}
}

// testUI records what a build says.
type testUI struct {
	t      *testing.T
	mu     sync.Mutex
	lines  []string
	stdout bytes.Buffer
}

func (u *testUI) Say(msg string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lines = append(u.lines, msg)
}

func (u *testUI) Error(msg string)  { u.Say("error: " + msg) }
func (u *testUI) Stdout() io.Writer { return &lockedWriter{mu: &u.mu, w: &u.stdout} }
func (u *testUI) Stderr() io.Writer { return io.Discard }

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// templateBuild is `bake build` of testdata/amazon/template.pkr.hcl
// against e, logging in to the test's sshd on sshPort, with the manifest
// in dir and the provisioner's marker file at marker; the AWS
// configuration files are out of reach.
func templateBuild(t *testing.T, bin string, e *env, sshPort int, dir, marker string, extra ...string) *exec.Cmd {
	t.Helper()
	template, err := filepath.Abs("../../testdata/amazon/template.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"build", "-color=false", "-manifest", filepath.Join(dir, "m.json"),
		"-var", "endpoint=" + e.ec2.URL, "-var", "ssh_port=" + strconv.Itoa(sshPort), "-var", "marker=" + marker}, extra...)
	cmd := exec.Command(bin, append(args, template)...)
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	return cmd
}
