package spool

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSized(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "0123456789")
	f.Seek(4, io.SeekStart)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for name, r := range map[string]io.Reader{
		"strings": strings.NewReader("012345"),
		"file":    f,
		"pipe":    io.MultiReader(strings.NewReader("012"), strings.NewReader("345")),
	} {
		rr, n, done, err := Sized(r)
		if err != nil {
			t.Fatal(err)
		}
		// A spool file is never visible on disk, even before done.
		if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
			t.Errorf("%s: spool file on disk: %v", name, left)
		}
		b, _ := io.ReadAll(rr)
		done()
		if n != 6 || string(b) != "456789" && string(b) != "012345" {
			t.Errorf("%s: size %d, read %q", name, n, b)
		}
	}
}
