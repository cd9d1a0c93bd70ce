package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

func TestPrepareCompressionType(t *testing.T) {
	configtest.Run(t, "qemu", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "zstd", Src: base + "disk_compression = true\ncompression_type = \"zstd\""},
		{Name: "zlib", Src: base + "disk_compression = true\ncompression_type = \"ZLIB\""},
		{Src: base + "disk_compression = true\ncompression_type = \"zstdd\"", Want: `"zstdd" is not a valid value for "compression_type"; it must be one of "zlib", "zstd". Did you mean "zstd"?`, Line: 5},
		{Src: base + "compression_type = \"zstd\"", Want: `"compression_type" applies only with disk_compression = true`, Line: 4, Warning: true},
	})
}

// TestConvertOpts checks the qemu-img convert options the output step
// uses: -m from the cores with -W, unless qemu_img_args chooses; -c with
// -o compression_type=zstd only when asked, zlib left as qemu's default.
func TestConvertOpts(t *testing.T) {
	n := convertJobs()
	if n < 2 || n > 16 {
		t.Fatalf("convertJobs() = %d, want 2..16", n)
	}
	c := &Config{Format: "qcow2"}
	if got, want := c.parallelOpts(), []string{"-m", strconv.Itoa(n), "-W"}; !slices.Equal(got, want) {
		t.Errorf("parallelOpts() = %q, want %q", got, want)
	}
	for _, user := range [][]string{{"-m", "2"}, {"-m8"}, {"-W"}} {
		c.QemuImgArgs = &QemuImgArgs{Convert: user}
		if got := c.parallelOpts(); got != nil {
			t.Errorf("with qemu_img_args convert %q: parallelOpts() = %q, want none", user, got)
		}
	}
	c.QemuImgArgs = &QemuImgArgs{Convert: []string{"-o", "cluster_size=65536"}}
	if got := c.parallelOpts(); len(got) != 3 {
		t.Errorf("an unrelated convert argument turned off parallel writes: %q", got)
	}
	for _, tc := range []struct {
		compress bool
		format   string
		typ      string
		want     []string
	}{
		{false, "qcow2", "", nil},
		{true, "raw", "", nil},
		{true, "qcow2", "", []string{"-c"}},
		{true, "qcow2", "zlib", []string{"-c"}},
		{true, "qcow2", "zstd", []string{"-c", "-o", "compression_type=zstd"}},
	} {
		c := &Config{DiskCompression: tc.compress, Format: tc.format, CompressionType: tc.typ}
		if got := c.compressOpts(); !slices.Equal(got, tc.want) {
			t.Errorf("compressOpts(%v, %s, %q) = %q, want %q", tc.compress, tc.format, tc.typ, got, tc.want)
		}
	}
}

// TestReflink clones a disk where the file system can, and otherwise
// fails without leaving a file (createDisk then copies with qemu-img).
func TestReflink(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", src, "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	want := fileSHA256(t, src)
	dst := filepath.Join(dir, "dst.qcow2")
	err := reflink(src, dst)
	switch {
	case err == nil:
		if got := fileSHA256(t, dst); got != want {
			t.Errorf("clone sha256 %s, source %s", got, want)
		}
		if err := reflink(src, dst); !errors.Is(err, os.ErrExist) {
			t.Errorf("cloning over an existing file: %v, want it refused", err)
		}
	case errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTTY):
		t.Logf("no reflink on %s: %v", dir, err)
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("a failed clone left %s: %v", dst, err)
		}
	default:
		t.Fatalf("reflink: %v", err)
	}
	if err := reflink(filepath.Join(dir, "missing"), filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("reflink of a missing file: %v", err)
	}
}

// TestHashInBackground: the base disk's digest taken while the build goes
// on is the file's sha256; a missing file is an error naming it; stop
// ends a hash under way and lets go of the file.
func TestHashInBackground(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "base.img")
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	got, err := hashInBackground(p).wait(context.Background())
	if err != nil || got != hex.EncodeToString(want[:]) {
		t.Errorf("digest %q, %v; want %x", got, err, want)
	}
	if _, err := hashInBackground(filepath.Join(dir, "missing")).wait(context.Background()); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h := hashInBackground(p)
	if _, err := h.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with a cancelled context: %v", err)
	}
	h.stop()
	if _, err := h.wait(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("after stop: %v", err)
	}
}
