package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRememberedSHA256 checks that a remembered digest is handed out only
// while the file is the version that was hashed: a same-size rewrite, an
// append, a chmod, a touch and a replacement by rename all miss.
func TestRememberedSHA256(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "base.qcow2")
	write := func(data string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hexOf := func(data string) string {
		sum := sha256.Sum256([]byte(data))
		return hex.EncodeToString(sum[:])
	}
	write("base disk v1")
	if _, ok := s.RememberedSHA256(p); ok {
		t.Fatal("a digest before any hashing")
	}
	remember := func(want string) {
		t.Helper()
		var seen []byte
		sum, err := s.HashFile(p, func(b []byte) { seen = append(seen, b...) })
		if err != nil || sum != hexOf(want) || string(seen) != want {
			t.Fatalf("HashFile = %s %v (saw %q), want %s", sum, err, seen, hexOf(want))
		}
		if got, ok := s.RememberedSHA256(p); !ok || got != sum {
			t.Fatalf("not remembered: %s %v", got, ok)
		}
	}
	remember("base disk v1")
	for _, c := range []struct {
		name   string
		change func()
		now    string
	}{
		{"same-size rewrite", func() {
			f, _ := os.OpenFile(p, os.O_WRONLY, 0)
			f.WriteAt([]byte("B"), 0)
			f.Close()
		}, "Base disk v1"},
		{"append", func() {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte("!"))
			f.Close()
		}, "Base disk v1!"},
		{"chmod", func() { os.Chmod(p, 0o600) }, "Base disk v1!"},
		{"touch", func() { now := time.Now(); os.Chtimes(p, now, now) }, "Base disk v1!"},
		{"replaced by rename", func() {
			q := p + ".new"
			os.WriteFile(q, []byte("another disk"), 0o644)
			os.Rename(q, p)
		}, "another disk"},
	} {
		time.Sleep(2 * settleTime) // a later clock tick, as a later change is
		c.change()
		if got, ok := s.RememberedSHA256(p); ok {
			t.Errorf("%s: remembered digest %s still handed out", c.name, got)
		}
		remember(c.now)
	}
}

// FuzzParseFileDigest feeds ParseFileDigest arbitrary files: it must never
// panic, and what it accepts must be valid and round-trip.
func FuzzParseFileDigest(f *testing.F) {
	good, _ := json.Marshal(FileDigest{Path: "/var/lib/base.qcow2", Dev: 2049, Ino: 12, Size: 100, Mtime: 1, Ctime: 2,
		SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
	f.Add(good)
	f.Add([]byte(`{"path":"rel","sha256":"00"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"path":"/x","size":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseFileDigest(b)
		if err != nil {
			return
		}
		if !filepath.IsAbs(d.Path) || d.Size < 0 || !Key("sha256:"+d.SHA256).Valid() {
			t.Fatalf("accepted %+v", d)
		}
		out, _ := json.Marshal(d)
		if d2, err := ParseFileDigest(out); err != nil || *d2 != *d {
			t.Fatalf("round trip: %+v %v", d2, err)
		}
	})
}
