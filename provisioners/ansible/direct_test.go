package ansible

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/testutil/sshd"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/testui"
)

// TestDirectSSH: with use_proxy = false Ansible connects to the machine's
// SSH address (a real sshd) as the build's user with the build's key, and
// no process of the run (an SSH control master) nor temporary file is
// left when the step returns. $TMPDIR is long, too long for the SSH
// control sockets to fit in a Unix socket's path below it (so they go to
// /tmp instead).
func TestDirectSSH(t *testing.T) {
	needAnsible(t)
	srv := sshd.Start(t, sshd.Options{})
	home := sshd.UserDir(t, sshd.TestUser)
	runID := fmt.Sprintf("test-direct-%d", time.Now().UnixNano())
	long := filepath.Join(t.TempDir(), strings.Repeat("long-tmpdir-", 4))
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", long)
	t.Cleanup(func() {
		assertNoTemp(t, runID)
		if left, _ := filepath.Glob(filepath.Join("/tmp", TempPrefix(runID)+"*")); len(left) > 0 {
			t.Errorf("left in /tmp: %v", left)
		}
	})
	no := false
	cfg := &Config{PlaybookFile: testdata(t, "direct.yml"), UseProxy: &no, ExtraArguments: []string{"-e", "dest_dir=" + home}}
	prepare(t, cfg)
	info := provisioners.BuildInfo{RunID: runID, Type: "qemu", SourceName: "direct", Host: srv.Host, Port: srv.Port,
		User: sshd.TestUser, SSHPrivateKey: string(srv.PrivateKey)}
	if err := New(cfg).Provision(testContext(t), testui.New(t), nil, info); err != nil {
		t.Fatalf("provision: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(home, "bake-direct"))
	if err != nil || string(b) != "direct "+sshd.TestUser+"\n" {
		t.Fatalf("bake-direct = %q, %v", b, err)
	}
	assertNoProcess(t, TempPrefix(runID))
}

// assertNoProcess fails when a process's command line contains s.
func assertNoProcess(t *testing.T, s string) {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && strings.Contains(string(b), s) {
			t.Errorf("process %s is left: %s", filepath.Base(filepath.Dir(d)), strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}
