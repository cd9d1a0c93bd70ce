// Package downloadtest checks that a directory download from a machine
// writes nothing outside its destination, whatever links the machine, or
// an earlier download, put in the way.
//
// A Layout is a scratch directory holding the destinations and, beside
// them, an "outside" directory with one file, "victim". The machine's tree
// is made by shell commands (run through the communicator under test, as
// the machine's user): First leaves hostile links (an absolute link to
// outside, a relative one, "..", and a link to the victim file); Second
// replaces each link by a directory with a file in it, or by a file, and
// adds a setuid file and a setgid directory. Downloading First then Second
// into one destination is the attack; Check then asserts that nothing
// outside the destinations changed, and CheckSecond that the destination
// holds Second's tree with its own directories and files and no setuid or
// setgid bit.
package downloadtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Layout is the scratch directory of one test.
type Layout struct {
	// Base holds the destinations and Outside.
	Base string
	// Outside is the directory no download may write to; it holds the
	// file Victim.
	Outside, Victim string
	dests           map[string]bool
}

// victimContent is what the victim file holds.
const victimContent = "untouched\n"

// New makes the scratch directory.
func New(t testing.TB) *Layout {
	t.Helper()
	l := &Layout{Base: t.TempDir(), dests: map[string]bool{}}
	l.Outside = filepath.Join(l.Base, "outside")
	l.Victim = filepath.Join(l.Outside, "victim")
	if err := os.Mkdir(l.Outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Victim, []byte(victimContent), 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

// Dest returns the path of a destination directory named name in Base
// (not created).
func (l *Layout) Dest(name string) string {
	l.dests[name] = true
	return filepath.Join(l.Base, name)
}

// Links are the hostile links, by name, for a directory directly inside a
// destination: each resolves, from there, outside the destination.
func (l *Layout) Links() map[string]string {
	return map[string]string{
		"abs":  l.Outside,
		"rel":  "../outside",
		"dot":  "..",
		"file": l.Victim,
	}
}

// Plant puts the hostile links in the local directory dir, as an earlier
// download would have left them.
func (l *Layout) Plant(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range l.Links() {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// First is a shell command that makes the machine's directory dir hold
// the hostile links.
func (l *Layout) First(dir string) string {
	cmd := []string{"rm -rf " + quote(dir), "mkdir -p " + quote(dir)}
	for name, target := range l.Links() {
		cmd = append(cmd, "ln -s "+quote(target)+" "+quote(dir+"/"+name))
	}
	return strings.Join(cmd, " && ")
}

// Second is a shell command that makes the machine's directory dir hold,
// under the links' names, directories with a file "evil" and a file
// "file", plus a setuid file "suid" and a setgid directory "sgid".
func (l *Layout) Second(dir string) string {
	q := func(name string) string { return quote(dir + "/" + name) }
	return strings.Join([]string{
		"rm -rf " + quote(dir),
		"mkdir -p " + q("abs") + " " + q("rel") + " " + q("dot") + " " + q("sgid"),
		"echo evil > " + q("abs/evil"), "echo evil > " + q("rel/evil"), "echo evil > " + q("dot/evil"),
		"echo new > " + q("file"),
		"echo suid > " + q("suid"), "chmod 4755 " + q("suid"), "chmod 2755 " + q("sgid"),
	}, " && ")
}

// CheckSecond asserts that the local directory dir holds Second's tree,
// as real directories and files, without setuid or setgid bits.
func (l *Layout) CheckSecond(t testing.TB, dir string) {
	t.Helper()
	want := map[string]string{
		"abs": "dir", "rel": "dir", "dot": "dir", "sgid": "dir",
		"abs/evil": "evil\n", "rel/evil": "evil\n", "dot/evil": "evil\n",
		"file": "new\n", "suid": "suid\n",
	}
	for name, w := range want {
		p := filepath.Join(dir, filepath.FromSlash(name))
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			t.Errorf("%s has mode %s: the setuid or setgid bit came along", name, fi.Mode())
		}
		if w == "dir" {
			if !fi.IsDir() {
				t.Errorf("%s is a %s, want a directory", name, fi.Mode().Type())
			}
			continue
		}
		if !fi.Mode().IsRegular() {
			t.Errorf("%s is a %s, want a file", name, fi.Mode().Type())
			continue
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != w {
			t.Errorf("%s holds %q (%v), want %q", name, b, err, w)
		}
	}
}

// Check asserts that nothing in Base but the destinations changed: Outside
// still holds only the victim file, unchanged, and nothing else appeared.
func (l *Layout) Check(t testing.TB) {
	t.Helper()
	entries, err := os.ReadDir(l.Base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "outside" && !l.dests[e.Name()] {
			t.Errorf("%s was written outside the destinations", filepath.Join(l.Base, e.Name()))
		}
	}
	entries, err = os.ReadDir(l.Outside)
	if err != nil {
		t.Fatalf("outside: %v", err)
	}
	for _, e := range entries {
		if e.Name() != "victim" {
			t.Errorf("%s was written outside the destination", filepath.Join(l.Outside, e.Name()))
		}
	}
	if b, err := os.ReadFile(l.Victim); err != nil || string(b) != victimContent {
		t.Errorf("the file outside the destination holds %q (%v), want %q", b, err, victimContent)
	}
	if fi, err := os.Lstat(l.Victim); err == nil && fi.Mode().Perm() != 0o644 {
		t.Errorf("the file outside the destination has mode %s", fi.Mode())
	}
}

// quote quotes s for a POSIX shell.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
