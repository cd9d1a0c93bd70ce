package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
)

// precompressRig is a build's state up to the shutdown, without a guest:
// a base disk with compressible and random data, the working overlay
// createDisk makes on it (grown by disk_size), and the background
// compression started. The "guest" then writes with qemu-io.
type precompressRig struct {
	b    *Builder
	s    *state
	ui   *testUI
	base string
}

func newPrecompressRig(t *testing.T, compressionType string) *precompressRig {
	t.Helper()
	dir := t.TempDir()
	raw := filepath.Join(dir, "base.raw")
	// 24 MiB: text (compressible), then random bytes, then zeros.
	data := make([]byte, 24<<20)
	line := []byte("the quick brown fox jumps over the lazy dog 0123456789\n")
	for i := 0; i < 12<<20; i++ {
		data[i] = line[i%len(line)]
	}
	f, err := os.Open("/dev/urandom")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(data[12<<20 : 16<<20]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.qcow2")
	qemuImgT(t, "convert", "-f", "raw", "-O", "qcow2", raw, base)
	os.Remove(raw)
	src := `iso_url = "` + base + `"
iso_checksum = "none"
disk_image = true
ssh_username = "root"
disk_compression = true
disk_size = "40M"
output_directory = "` + filepath.Join(dir, "out") + `"
vm_name = "pre.qcow2"
`
	if compressionType != "" {
		src += `compression_type = "` + compressionType + `"` + "\n"
	}
	b, _ := newBuilder(t, src, builder.Options{})
	ui := newUI(t)
	s := &state{ui: ui}
	ctx := context.Background()
	if err := b.prepareOutput(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.journal().Release(b.runID, s.outDir) })
	if err := b.findBase(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.baseDigest != nil {
		s.baseDigest.stop()
		s.baseDigest = nil
	}
	if !b.precompressWanted() {
		t.Fatal("precompressWanted() is false for an overlay build with disk_compression")
	}
	if err := b.createDisk(ctx, s); err != nil {
		t.Fatal(err)
	}
	if !s.overlay {
		t.Fatal("the working disk is not an overlay on the base")
	}
	if err := b.startPrecompress(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.pre == nil {
		t.Fatalf("the background compression did not start:\n%s", ui.text())
	}
	t.Cleanup(func() { stopPrecompress(ctx, s) })
	return &precompressRig{b: b, s: s, ui: ui, base: base}
}

// guestWrites changes the working disk as a guest would: new data over
// compressible and random clusters, a cluster zeroed (a discard), a
// partial cluster, and data in the part disk_size added.
func (r *precompressRig) guestWrites(t *testing.T) {
	t.Helper()
	for _, c := range []string{
		"write -P 0xab 1M 256k",
		"write -P 0x5c 13M 64k",
		"write -z 2M 128k",
		"write -P 0x11 5000 1000",
		"write -P 0x77 30M 1M",
	} {
		if out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", c, r.s.work).CombinedOutput(); err != nil {
			t.Fatalf("qemu-io %q: %v\n%s", c, err, out)
		}
	}
}

func qemuImgT(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkOutput asserts what a user checks of the output: the same content
// as the classic convert (ref), qemu-img check clean, no backing file,
// compressed with the asked type, the artifact's digest the file's
// sha256, and nothing else left in the output directory.
func (r *precompressRig) checkOutput(t *testing.T, ref, compressionType string) {
	t.Helper()
	out := filepath.Join(r.s.outDir, "pre.qcow2")
	if msg, err := exec.Command("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", ref, out).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare of the classic convert and the output: %v\n%s", err, msg)
	}
	if msg := qemuImgT(t, "check", out); !strings.Contains(msg, "No errors were found") {
		t.Errorf("qemu-img check %s:\n%s", out, msg)
	}
	info := qemuInfo(t, out)
	if info.BackingFile != "" {
		t.Errorf("the output has the backing file %q; want a standalone image", info.BackingFile)
	}
	if info.VirtualSize != 40<<20 {
		t.Errorf("the output's virtual size is %d, want disk_size's %d", info.VirtualSize, 40<<20)
	}
	text := qemuImgT(t, "info", out)
	if want := "compression type: " + compressionType; !strings.Contains(text, want) {
		t.Errorf("qemu-img info %s does not say %q:\n%s", out, want, text)
	}
	if r.s.art == nil || r.s.art.Items[0].Digest != "sha256:"+fileSHA256(t, out) {
		t.Errorf("the artifact's digest is not the output's sha256: %+v", r.s.art)
	}
	ents, _ := os.ReadDir(r.s.outDir)
	for _, e := range ents {
		if e.Name() != "pre.qcow2" && !strings.HasSuffix(e.Name(), ".work") {
			t.Errorf("the output directory holds %s besides the output and the working disk", e.Name())
		}
	}
	refSize, outSize := fileSize(t, ref), fileSize(t, out)
	t.Logf("classic convert %d KiB, compressed while the guest ran %d KiB", refSize>>10, outSize>>10)
}

func fileSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestPrecompressCommit: the base compressed in the background, grown to
// the overlay's size, with the guest's changes committed into it, has the
// content of the classic convert -c of the overlay, for zlib and zstd.
func TestPrecompressCommit(t *testing.T) {
	for _, typ := range []string{"zlib", "zstd"} {
		t.Run(typ, func(t *testing.T) {
			ct := typ
			if typ == "zlib" {
				ct = "" // qemu's default, left implicit
			}
			r := newPrecompressRig(t, ct)
			r.guestWrites(t)
			ref := filepath.Join(t.TempDir(), "ref.qcow2")
			qemuImgT(t, "convert", "-c", "-O", "qcow2", "-o", "compression_type="+typ, r.s.work, ref)
			if err := r.b.convert(context.Background(), r.s); err != nil {
				t.Fatalf("convert: %v\n%s", err, r.ui.text())
			}
			if !strings.Contains(r.ui.text(), "the guest's changes were committed into it") {
				t.Errorf("the convert step did not say it committed into the compressed base:\n%s", r.ui.text())
			}
			if r.s.pre != nil {
				t.Error("s.pre is still set after the output was moved into place")
			}
			r.checkOutput(t, ref, typ)
		})
	}
}

// TestPrecompressFallback: when the background compression fails (here
// its base is gone when it starts), or its copy cannot be read once it
// ended, the convert step says so and converts as before; the output is
// the same content.
func TestPrecompressFallback(t *testing.T) {
	for _, tc := range []struct {
		name, said string
		spoil      func(t *testing.T, r *precompressRig)
	}{
		{"the job fails", "the background compression failed", func(t *testing.T, r *precompressRig) {
			stopPrecompress(context.Background(), r.s)
			r.s.base = filepath.Join(t.TempDir(), "gone.qcow2")
			r.b.startPrecompress(context.Background(), r.s)
			r.s.base = r.base
			if r.s.pre == nil {
				t.Fatal("qemu-img did not start")
			}
			<-r.s.pre.done
		}},
		{"its copy is gone", "read the compressed base", func(t *testing.T, r *precompressRig) {
			<-r.s.pre.done
			if err := os.Remove(r.s.pre.path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPrecompressRig(t, "")
			r.guestWrites(t)
			ref := filepath.Join(t.TempDir(), "ref.qcow2")
			qemuImgT(t, "convert", "-c", "-O", "qcow2", r.s.work, ref)
			tc.spoil(t, r)
			if err := r.b.convert(context.Background(), r.s); err != nil {
				t.Fatalf("convert: %v\n%s", err, r.ui.text())
			}
			text := r.ui.text()
			if !strings.Contains(text, tc.said) || !strings.Contains(text, "converting the disk after shutdown instead") {
				t.Errorf("the fallback was not said (%q):\n%s", tc.said, text)
			}
			if strings.Contains(text, "committed into it") {
				t.Errorf("the convert step committed into a failed compression:\n%s", text)
			}
			if info := qemuInfo(t, r.s.work); info.BackingFile != r.base {
				t.Errorf("the working disk's backing file is %q, want the base %s", info.BackingFile, r.base)
			}
			r.checkOutput(t, ref, "zlib")
		})
	}
}

// TestPrecompressCancel: a build that ends while the background
// compression runs (Ctrl-C, a failed step) stops qemu-img and removes
// its partial file; so does -on-error=abort's report name it while it
// runs.
func TestPrecompressCancel(t *testing.T) {
	r := newPrecompressRig(t, "")
	p := r.s.pre
	pid := p.cmd.Process.Pid
	if left := leftPrecompress(r.s); p.running() && !strings.Contains(left, "qemu-img process") {
		t.Errorf("leftPrecompress while qemu-img runs: %q", left)
	}
	if err := stopPrecompress(context.Background(), r.s); err != nil {
		t.Fatal(err)
	}
	if r.s.pre != nil {
		t.Error("s.pre is still set after the cleanup")
	}
	if _, err := os.Stat(p.path); !os.IsNotExist(err) {
		t.Errorf("the partial file %s remains: %v", p.path, err)
	}
	// Reaped: the pid is no process of ours any more.
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("qemu-img %d still runs after the cleanup", pid)
	}
	if info := qemuInfo(t, r.s.work); info.BackingFile != r.base {
		t.Errorf("the working disk's backing file is %q, want the base %s", info.BackingFile, r.base)
	}
}

// threadNices returns the nice value of each thread of process pid, from
// /proc (field 19 of its stat).
func threadNices(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		n, err := strconv.Atoi(f[16])
		if err != nil {
			t.Fatalf("stat of thread %s: %q", task.Name(), s)
		}
		out = append(out, n)
	}
	return out
}

// TestPrecompressPriority: qemu-img compresses at nice 19 while the guest
// runs, and at bake's own nice once the convert step waits for it.
func TestPrecompressPriority(t *testing.T) {
	r := newPrecompressRig(t, "")
	// A base of 128 MiB of random bytes, so that qemu-img compresses for
	// seconds, not milliseconds, while the test looks at it.
	stopPrecompress(context.Background(), r.s)
	big := filepath.Join(t.TempDir(), "big.raw")
	if out, err := exec.Command("dd", "if=/dev/urandom", "of="+big, "bs=1M", "count=128", "status=none").CombinedOutput(); err != nil {
		t.Fatalf("dd: %v: %s", err, out)
	}
	r.s.base = big
	r.s.baseInfo.Format = "raw"
	r.b.startPrecompress(context.Background(), r.s)
	if r.s.pre == nil {
		t.Fatal("qemu-img did not start")
	}
	pid := r.s.pre.cmd.Process.Pid
	// nice(1) runs first, then becomes qemu-img.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.HasPrefix(string(b), "qemu-img\x00") {
			break
		}
	}
	for _, n := range threadNices(t, pid) {
		if n != 19 {
			t.Errorf("a thread of the background qemu-img runs at nice %d, want 19", n)
		}
	}
	if err := r.s.pre.raisePriority(); err != nil {
		t.Fatal(err)
	}
	if !r.s.pre.running() {
		t.Fatal("qemu-img ended before its priority could be checked")
	}
	raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	own := 20 - raw
	for _, n := range threadNices(t, pid) {
		if n != own {
			t.Errorf("after raisePriority a thread of qemu-img runs at nice %d, want bake's %d", n, own)
		}
	}
}
