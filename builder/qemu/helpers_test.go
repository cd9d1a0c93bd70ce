package qemu

import (
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/bake-tool/bake/internal/testutil/qemufixture"
)

// guest is the test fixture made by scripts/qemu-fixture.sh.
type guest = qemufixture.Guest

// fixture returns the cached test guest, building it on first use (a few
// minutes). It skips the test with -short and fails it when qemu is
// missing; BAKE_QEMU_FIXTURE may name a ready fixture directory.
func fixture(t testing.TB) guest {
	t.Helper()
	return qemufixture.Get(t, "")
}

// testUI is a ui.UI that logs to the test and keeps every line.
type testUI struct {
	t  testing.TB
	mu sync.Mutex
	// lines are "say: ...", "error: ...", "out: ..." entries.
	lines []string
}

func newUI(t testing.TB) *testUI { return &testUI{t: t} }

func (u *testUI) add(kind, msg string) {
	u.mu.Lock()
	u.lines = append(u.lines, kind+": "+msg)
	u.mu.Unlock()
	u.t.Log(kind + ": " + msg)
}

func (u *testUI) Say(msg string)    { u.add("say", msg) }
func (u *testUI) Error(msg string)  { u.add("error", msg) }
func (u *testUI) Stdout() io.Writer { return uiWriter{u, "out"} }
func (u *testUI) Stderr() io.Writer { return uiWriter{u, "err"} }

func (u *testUI) text() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.lines, "\n")
}

type uiWriter struct {
	u    *testUI
	kind string
}

func (w uiWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.u.add(w.kind, l)
	}
	return len(p), nil
}

// newBuilder prepares the HCL body src as a qemu source named "test" and
// returns its builder with a fresh run id, and that id.
func newBuilder(t testing.TB, src string, opts builder.Options) (*Builder, string) {
	t.Helper()
	cfg := new(Config)
	configtest.MustPrepare(t, "qemu", src, cfg)
	if opts.RunID == "" {
		opts.RunID = "t" + strings.ToLower(strings.NewReplacer("/", "", "_", "").Replace(t.Name()))
		if len(opts.RunID) > 24 {
			opts.RunID = opts.RunID[:24]
		}
		opts.RunID += fmt.Sprintf("%d", os.Getpid()%100000)
	}
	opts.BuildID = opts.RunID + "-qemu.test"
	b := New(cfg, opts)
	b.ports = portAllocator{Dir: filepath.Join(os.TempDir(), "bake-ports")}
	return b, opts.RunID
}

// fileSHA256 hashes a file.
func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// copyBase copies the fixture's disk into dir, so that a bug cannot
// damage the shared cache.
func copyBase(t testing.TB, disk, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, "base.qcow2")
	if out, err := exec.Command("cp", "--sparse=always", disk, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy base disk: %v: %s", err, out)
	}
	return dst
}

// assertNoLeftovers checks that no process, temporary directory or
// output directory of the run remains.
func assertNoLeftovers(t testing.TB, runID, outDir string) {
	t.Helper()
	if out, err := exec.Command("pgrep", "-af", runID).Output(); err == nil {
		var procs []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(l, "qemu") {
				procs = append(procs, l)
			}
		}
		if len(procs) > 0 {
			t.Errorf("qemu processes of run %s remain: %s", runID, strings.Join(procs, "\n"))
		}
	}
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "bake-qemu-"+runID+"-*")); len(m) > 0 {
		t.Errorf("temporary directories remain: %v", m)
	}
	if outDir != "" {
		if _, err := os.Stat(outDir); err == nil {
			ents, _ := os.ReadDir(outDir)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("output directory %s remains, with %v", outDir, names)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func sleepMs(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }

// isoFixture returns the boot ISO made by scripts/qemu-iso-fixture.sh from
// the guest fixture: an ISOLINUX prompt that boots the guest's kernel only
// when "bake <arguments>" is typed at it.
func isoFixture(t testing.TB) string {
	t.Helper()
	g := fixture(t)
	cmd := exec.Command("../../scripts/qemu-iso-fixture.sh")
	cmd.Env = append(os.Environ(), "BAKE_QEMU_FIXTURE="+g.Dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/qemu-iso-fixture.sh: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "boot.iso")
}
