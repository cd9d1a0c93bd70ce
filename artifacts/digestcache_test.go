package artifacts

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestHashAndRemember: FileSHA256 reuses a digest HashAndRemember made
// only while the file is unchanged; a same-size rewrite, an append, a
// chmod, a replacement by rename all make it hash the file again.
func TestHashAndRemember(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.qcow2")
	data := []byte("the first content of the disk")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := md5.New()
	sum, n, err := HashAndRemember(p, m)
	if err != nil || sum != sha256Hex(data) || n != int64(len(data)) {
		t.Fatalf("HashAndRemember = %s %d %v", sum, n, err)
	}
	if want := md5.Sum(data); hex.EncodeToString(m.Sum(nil)) != hex.EncodeToString(want[:]) {
		t.Errorf("the extra writer saw other bytes")
	}
	if got, _, ok := CachedSHA256(p); !ok || got != sum {
		t.Fatalf("not remembered: %s %v", got, ok)
	}
	if got, size, err := FileSHA256(p); err != nil || got != sum || size != n {
		t.Fatalf("FileSHA256 = %s %d %v", got, size, err)
	}

	check := func(what string, want []byte) {
		t.Helper()
		if _, _, ok := CachedSHA256(p); ok {
			t.Errorf("%s: the cache still answers", what)
		}
		if got, _, err := FileSHA256(p); err != nil || got != sha256Hex(want) {
			t.Errorf("%s: FileSHA256 = %s %v, want %s", what, got, err, sha256Hex(want))
		}
	}
	remember := func() {
		t.Helper()
		if _, _, err := HashAndRemember(p, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := CachedSHA256(p); !ok {
			t.Fatal("not remembered")
		}
	}

	// Same size, rewritten in place at once (the same clock tick as
	// far as the file system can tell).
	same := []byte("THE FIRST CONTENT OF THE DISK")
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(same, 0)
	f.Close()
	check("same-size rewrite", same)

	remember()
	f, _ = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("!"))
	f.Close()
	check("append", append(same, '!'))

	remember()
	os.Chmod(p, 0o600)
	check("chmod", append(same, '!'))

	remember()
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("another file, the same size!!!"), 0o644)
	os.Rename(other, p)
	check("replaced by rename", []byte("another file, the same size!!!"))

	// A file written just before HashAndRemember is hashed only after
	// settleTime has passed since its last change.
	q := filepath.Join(dir, "fresh")
	os.WriteFile(q, []byte("fresh"), 0o644)
	t0 := time.Now()
	if _, _, err := HashAndRemember(q, nil); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(q)
	if since := t0.Sub(fi.ModTime()); since < settleTime && time.Since(t0) < settleTime-since-time.Millisecond {
		t.Errorf("hashed %s after the last change, want at least %s", time.Since(fi.ModTime()), settleTime)
	}

	if _, _, err := HashAndRemember(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("no error for a missing file")
	}
}

// TestRemember: a digest the writer of a file vouches for is handed out
// while the file is unchanged, and no longer once it changes.
func TestRemember(t *testing.T) {
	p := filepath.Join(t.TempDir(), "copy.qcow2")
	data := []byte("copied and hashed as it was written")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	Remember(p, sha256Hex(data))
	if got, size, ok := CachedSHA256(p); !ok || got != sha256Hex(data) || size != int64(len(data)) {
		t.Fatalf("CachedSHA256 = %s %d %v", got, size, ok)
	}
	time.Sleep(2 * settleTime) // a later clock tick, as any later write is
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("!"))
	f.Close()
	if _, _, ok := CachedSHA256(p); ok {
		t.Error("the digest is still handed out after an append")
	}
	if got, _, err := FileSHA256(p); err != nil || got != sha256Hex(append(data, '!')) {
		t.Errorf("FileSHA256 = %s %v", got, err)
	}
}
