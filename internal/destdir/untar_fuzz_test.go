package destdir

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// hostileTar is an archive whose later entries try to write through the
// links its earlier ones make.
func hostileTar(entries ...tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
		}
		tw.WriteHeader(&h)
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(h.Name))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// FuzzUntar: whatever archive a machine sends, Untar writes nothing
// outside the destination.
func FuzzUntar(f *testing.F) {
	dir := func(n string) tar.Header { return tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755} }
	file := func(n string) tar.Header { return tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o4755} }
	link := func(n, to string) tar.Header { return tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: to} }
	hard := func(n, to string) tar.Header { return tar.Header{Name: n, Typeflag: tar.TypeLink, Linkname: to} }
	for _, seed := range [][]tar.Header{
		{dir("out/"), file("out/a"), dir("out/d/"), file("out/d/b")},
		{dir("out/"), link("out/x", "/tmp"), file("out/x/evil")},
		{dir("out/"), link("out/x", "../.."), dir("out/x/sub/"), file("out/x/sub/evil")},
		{dir("out/"), link("out/x", ".."), link("out/x/y", "/"), file("out/x/y/evil")},
		{dir("out/"), link("out/f", "../../outside/victim"), file("out/f")},
		{dir("out/"), hard("out/h", "../outside/victim"), file("out/../../escape")},
		{dir("out/"), file("out/a"), hard("out/h", "out/a"), link("out/a", "/etc/passwd"), file("out/h")},
	} {
		for _, contents := range []bool{false, true} {
			f.Add(hostileTar(seed...), contents)
		}
	}
	f.Fuzz(func(t *testing.T, archive []byte, contents bool) {
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		victim := filepath.Join(outside, "victim")
		if err := os.WriteFile(victim, []byte("untouched"), 0o644); err != nil {
			t.Fatal(err)
		}
		Untar(context.Background(), tar.NewReader(bytes.NewReader(archive)), filepath.Join(base, "dst"), contents)
		if entries, _ := os.ReadDir(base); len(entries) > 2 {
			t.Errorf("base holds %d entries, want dst and outside only", len(entries))
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 1 {
			t.Errorf("outside holds %d entries, want the victim only", len(entries))
		}
		if b, err := os.ReadFile(victim); err != nil || string(b) != "untouched" {
			t.Errorf("victim holds %q (%v)", b, err)
		}
	})
}
