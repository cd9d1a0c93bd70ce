package ansible

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/proctest"
	"github.com/bake-tool/bake/internal/testutil/qemufixture"
)

// qemuRun is one `bake build` of testdata/qemu.pkr.hcl on a copy of the
// ansible qemu fixture, with a TMPDIR of its own so that whatever bake,
// qemu or Ansible leave behind there is seen.
type qemuRun struct {
	dir, tmp, out string
	cmd           *exec.Cmd
	buf           *proctest.Buffer
}

// newQemuRun prepares `bake build -only qemu.SOURCE` of the template.
func newQemuRun(t *testing.T, source string) *qemuRun {
	t.Helper()
	needAnsible(t)
	for _, c := range []string{"qemu-img", "debugfs"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s is not installed: run scripts/setup.sh", c)
		}
	}
	g := qemufixture.Get(t, qemufixture.Ansible)
	bin := bakebin.Path(t)
	r := &qemuRun{dir: t.TempDir()}
	r.tmp = filepath.Join(r.dir, "tmp")
	r.out = filepath.Join(r.dir, "out")
	if err := os.Mkdir(r.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(r.dir, "base.qcow2")
	if out, err := exec.Command("cp", "--sparse=always", g.Disk, base).CombinedOutput(); err != nil {
		t.Fatalf("copy the fixture disk: %v: %s", err, out)
	}
	tarball := tarRole(t, testdata(t, "galaxy/greeter"), r.dir)
	req := filepath.Join(r.dir, "requirements.yml")
	if err := os.WriteFile(req, []byte(fmt.Sprintf("roles:\n  - name: greeter\n    src: file://%s\n", tarball)), 0o644); err != nil {
		t.Fatal(err)
	}
	local, err := filepath.Abs("../ansiblelocal/testdata")
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "build", "-color=false", "-only", "qemu."+source, "-manifest", filepath.Join(r.dir, "manifest.json"),
		"-var", "fixture="+g.Dir, "-var", "base="+base, "-var", "output="+r.out,
		"-var", "testdata="+testdata(t, ""), "-var", "local_testdata="+local,
		"-var", "galaxy_file="+req, "-var", "galaxy_roles="+filepath.Join(r.dir, "galaxy-roles"),
		testdata(t, "qemu.pkr.hcl"))
	r.cmd.Env = append(os.Environ(), "TMPDIR="+r.tmp)
	r.buf = &proctest.Buffer{}
	r.cmd.Stdout, r.cmd.Stderr = r.buf, r.buf
	return r
}

// assertClean fails when a process of the run (qemu, an SSH control
// master, Ansible) or a file in its TMPDIR is left, or the SSH control
// socket directory the long TMPDIR sends to /tmp.
func (r *qemuRun) assertClean(t *testing.T) {
	t.Helper()
	for _, s := range []string{r.out, r.tmp} {
		assertNoProcess(t, s)
	}
	left, _ := os.ReadDir(r.tmp)
	for _, e := range left {
		if e.Name() == "bake-ports" { // qemu's forwarded-port locks, shared by every run
			continue
		}
		t.Errorf("temporary %s is left", filepath.Join(r.tmp, e.Name()))
	}
	m := regexp.MustCompile(`==> run ([0-9a-f-]+):`).FindStringSubmatch(r.buf.String())
	if m == nil {
		t.Errorf("no run id in the output")
		return
	}
	assertNoProcess(t, TempPrefix(m[1]))
	if left, _ := filepath.Glob(filepath.Join("/tmp", TempPrefix(m[1])+"*")); len(left) > 0 {
		t.Errorf("left in /tmp: %v", left)
	}
}

// TestQemu is the end-to-end qemu build through `bake build`: ansible
// with use_proxy = false (Ansible on this host, straight to the guest's
// forwarded SSH port with the build's key), then ansible-local (Ansible
// in the guest), in one boot. Their effects are read out of the output
// disk offline with debugfs, so they are in the artifact, and nothing of
// the run is left: no qemu, no SSH control master, no temporary file, no
// staging directory or Ansible temp file in the image.
func TestQemu(t *testing.T) {
	r := newQemuRun(t, "ansible")
	t0 := time.Now()
	err := r.cmd.Run()
	text := r.buf.String()
	t.Logf("bake build took %s:\n%s", time.Since(t0).Round(time.Second), text)
	if err != nil {
		t.Fatalf("bake build: %v", err)
	}
	for _, want := range []string{
		"TASK [web : write the motd from a template]",
		"RUNNING HANDLER [web : mark handled]",
		"TASK [greeter : galaxy role ran]",
		"TASK [local : write what the play knows]",
	} {
		if !strings.Contains(text, want+" *") {
			t.Errorf("output has no line %q", want)
		}
	}
	if strings.Contains(text, "serving the machine on") {
		t.Error("use_proxy = false went through the proxy")
	}
	r.assertClean(t)

	raw := filepath.Join(r.dir, "out.raw")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", filepath.Join(r.out, "ansible.qcow2"), raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	for path, want := range map[string]string{
		"/etc/bake-motd":    "hello-over-ssh from default\n",
		"/etc/bake-handler": "handled\n",
		"/etc/bake-galaxy":  "galaxy\n",
		"/etc/bake-become":  "0\n",
		"/etc/bake-local":   "group extra qemu\n",
	} {
		if got := debugfs(t, raw, "cat "+path); got != want {
			t.Errorf("%s in the output disk = %q, want %q", path, got, want)
		}
	}
	// The staging directories' parent and Ansible's remote temp dir are
	// there, and empty: ls -p lines are /INODE/MODE/UID/GID/NAME/SIZE/.
	for _, d := range []string{"/tmp/packer-provisioner-ansible-local", "/root/.ansible/tmp"} {
		for _, l := range strings.Split(debugfs(t, raw, "ls -p "+d), "\n") {
			if f := strings.Split(l, "/"); len(f) > 5 && f[5] != "." && f[5] != ".." {
				t.Errorf("%s/%s is left in the output disk", d, f[5])
			}
		}
	}
}

// debugfs runs one debugfs request against the ext4 disk image raw and
// returns its output; a request debugfs cannot answer fails t.
func debugfs(t *testing.T, raw, request string) string {
	t.Helper()
	cmd := exec.Command("debugfs", "-R", request, raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// debugfs prints its banner on stderr, and its errors there too with
	// status 0.
	if err != nil || strings.Contains(stderr.String(), "not found") {
		t.Errorf("debugfs -R %q: %v %s", request, err, stderr.String())
	}
	return string(out)
}

// TestQemuInterrupt: SIGINT to bake while the ansible provisioner's play
// runs in a qemu guest through the proxy stops the build with status 130
// and leaves no qemu, no proxy listener, no Ansible process, no temporary
// file and no output.
func TestQemuInterrupt(t *testing.T) {
	r := newQemuRun(t, "interrupt")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	port := ""
	deadline := time.Now().Add(5 * time.Minute)
	for !strings.Contains(r.buf.String(), "TASK [sleep a long time]") {
		if time.Now().After(deadline) || r.cmd.ProcessState != nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
			t.Fatalf("the play never started:\n%s", r.buf.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if m := regexp.MustCompile(`serving the machine on (127\.0\.0\.1:\d+)`).FindStringSubmatch(r.buf.String()); m != nil {
		port = m[1]
	} else {
		t.Errorf("no proxy address in the output:\n%s", r.buf.String())
	}
	// Let the task's command reach the guest (Ansible copies its module
	// over first).
	time.Sleep(3 * time.Second)
	r.cmd.Process.Signal(syscall.SIGINT)
	err := r.cmd.Wait()
	t.Logf("output:\n%s", r.buf.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want status 130", err)
	}
	if port != "" {
		if c, err := net.DialTimeout("tcp", port, time.Second); err == nil {
			c.Close()
			t.Errorf("the proxy still listens on %s", port)
		}
	}
	r.assertClean(t)
	if _, err := os.Stat(r.out); !os.IsNotExist(err) {
		t.Errorf("output directory remains: %v", err)
	}
}
