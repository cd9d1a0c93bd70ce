package destdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStaysInside: every way a name or a link could lead out of the
// destination is either refused or replaced, and nothing is written
// beside the destination.
func TestStaysInside(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(filepath.Join(base, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for name, target := range map[string]string{"abs": outside, "rel": "../outside", "dot": "..", "file": victim, "chain": "dot/outside"} {
		if err := d.Symlink(name, target); err != nil {
			t.Fatal(err)
		}
	}
	refused := []struct {
		what string
		do   func() error
	}{
		{"write through an absolute link", func() error { return d.WriteFile("abs/x", 0o644, time.Time{}, strings.NewReader("x")) }},
		{"write through a relative link", func() error { return d.WriteFile("rel/x", 0o644, time.Time{}, strings.NewReader("x")) }},
		{"write through ..", func() error { return d.WriteFile("dot/x", 0o644, time.Time{}, strings.NewReader("x")) }},
		{"write through a chain of links", func() error { return d.WriteFile("chain/x", 0o644, time.Time{}, strings.NewReader("x")) }},
		{"mkdir through a link", func() error { return d.Mkdir("abs/sub", 0o755, time.Time{}) }},
		{"link through a link", func() error { return d.Symlink("abs/l", "/") }},
		{"name with ..", func() error { return d.WriteFile("../x", 0o644, time.Time{}, strings.NewReader("x")) }},
		{"absolute name", func() error { return d.Mkdir("/x", 0o755, time.Time{}) }},
		{"hard link to a file outside", func() error { return d.Link("h", "../outside/victim") }},
		{"hard link through a link", func() error { return d.Link("h", "abs/victim") }},
		{"NUL in a name", func() error { return d.WriteFile("a\x00b", 0o644, time.Time{}, strings.NewReader("x")) }},
	}
	for _, r := range refused {
		if err := r.do(); err == nil {
			t.Errorf("%s: no error", r.what)
		} else {
			t.Logf("%s: %v", r.what, err)
		}
	}
	// An entry that arrives under a link's own name replaces the link.
	if err := d.WriteFile("file", 0o4755, time.Time{}, strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	if err := d.Mkdir("abs", 0o2755, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile("abs/x", 0o644, time.Time{}, strings.NewReader("inside")); err != nil {
		t.Fatal(err)
	}
	if err := d.Finish(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("outside holds %d entries, want only the victim", len(entries))
	}
	if b, _ := os.ReadFile(victim); string(b) != "untouched" {
		t.Errorf("victim = %q", b)
	}
	entries, _ = os.ReadDir(base)
	if len(entries) != 2 {
		t.Errorf("base holds %d entries, want dst and outside", len(entries))
	}
	for name, want := range map[string]os.FileMode{"dst/file": 0o755, "dst/abs": os.ModeDir | 0o755, "dst/abs/x": 0o644} {
		fi, err := os.Lstat(filepath.Join(base, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if fi.Mode() != want {
			t.Errorf("%s has mode %s, want %s", name, fi.Mode(), want)
		}
	}
}

// TestReadOnlyDirectory: a directory that ends read-only is filled first,
// and can be downloaded into again.
func TestReadOnlyDirectory(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "dst")
	for range 2 {
		d, err := Open(dst)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Mkdir("ro", 0o555, time.Unix(1e9, 0)); err != nil {
			t.Fatal(err)
		}
		if err := d.WriteFile("ro/f", 0o444, time.Unix(1e9, 0), strings.NewReader("f")); err != nil {
			t.Fatal(err)
		}
		if err := d.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dst, "ro"))
	if err != nil || fi.Mode().Perm() != 0o555 || !fi.ModTime().Equal(time.Unix(1e9, 0)) {
		t.Errorf("ro: %v %v", fi, err)
	}
}
