package cache

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func testKey(c byte) Key { return Key("sha256:" + strings.Repeat(string(c), 64)) }

func TestStorePutGetList(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get(testKey('a')); e != nil || err != nil {
		t.Fatalf("empty store: %v %v", e, err)
	}
	for _, c := range []byte("abc") {
		if err := s.Put(&Entry{Key: testKey(c), Kind: KindDockerStep, Ref: "sha256:img" + string(c), RunID: "run-" + string(c), Size: 10}); err != nil {
			t.Fatal(err)
		}
	}
	e, err := s.Get(testKey('b'))
	if err != nil || e == nil || e.RunID != "run-b" || e.Created.IsZero() {
		t.Fatalf("get b: %+v %v", e, err)
	}
	if err := s.Touch(e); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 3 || list[0].Key != testKey('b') {
		t.Fatalf("list: %d entries, %v; want 3 with b (just used) first", len(list), err)
	}
	if err := s.Remove(testKey('b')); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Get(testKey('b')); e != nil {
		t.Fatal("b still there after Remove")
	}
}

// TestStoreDamagedIndex checks that an index file that is truncated, not
// JSON, or that names another key is never used, and goes.
func TestStoreDamagedIndex(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good := &Entry{Key: testKey('a'), Kind: KindDockerImage, Ref: "sha256:x", RunID: "r"}
	b, _ := json.Marshal(good)
	other := *good
	other.Key = testKey('b')
	ob, _ := json.Marshal(other)
	for name, content := range map[string][]byte{
		"truncated":   b[:len(b)/2],
		"empty":       {},
		"not json":    []byte("garbage"),
		"another key": ob,
		"bad kind":    []byte(strings.Replace(string(b), KindDockerImage, "tarball", 1)),
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(s.Dir, "index", testKey('a').Hex()+".json")
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
			e, err := s.Get(testKey('a'))
			if e != nil || err != nil {
				t.Fatalf("damaged entry used: %+v %v", e, err)
			}
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Fatalf("damaged index file kept: %v", err)
			}
		})
	}
}

// TestStoreFileDigest checks that a stored file that was truncated or
// changed fails CheckFile.
func TestStoreFileDigest(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "disk.qcow2")
	if err := os.WriteFile(src, []byte(strings.Repeat("disk", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	k := testKey('d')
	digest, size, err := s.PutFile(k, "disk.qcow2", src)
	if err != nil || size != 4000 {
		t.Fatalf("PutFile: %d %v", size, err)
	}
	if err := s.CheckFile(k, "disk.qcow2", digest); err != nil {
		t.Fatalf("intact file: %v", err)
	}
	p := filepath.Join(s.BlobDir(k), "disk.qcow2")
	if err := os.Truncate(p, 3999); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckFile(k, "disk.qcow2", digest); err == nil {
		t.Fatal("truncated file passed CheckFile")
	}
}

// TestStoreLockSerialises checks that holders of one key's lock take turns
// (a read-modify-write under it loses no update), while another key's
// lock is free.
func TestStoreLockSerialises(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := testKey('e')
	if err := s.Put(&Entry{Key: k, Kind: KindDockerStep, Ref: "r", Size: 0}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				unlock, err := s.Lock(k)
				if err != nil {
					t.Error(err)
					return
				}
				e, _ := s.Get(k)
				e.Size++
				if err := s.Put(e); err != nil {
					t.Error(err)
				}
				unlock()
			}
		}()
	}
	wg.Wait()
	if e, _ := s.Get(k); e == nil || e.Size != 80 {
		t.Fatalf("after 80 locked increments: %+v", e)
	}
}

func TestHasherUnambiguous(t *testing.T) {
	sum := func(f func(h *Hasher)) Key {
		h := NewHasher("t")
		f(h)
		k, err := h.Sum()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := sum(func(h *Hasher) { h.String("x", "ab"); h.String("y", "c") })
	b := sum(func(h *Hasher) { h.String("x", "a"); h.String("y", "bc") })
	c := sum(func(h *Hasher) { h.Strings("l", []string{"a", "b"}) })
	d := sum(func(h *Hasher) { h.Strings("l", []string{"ab"}) })
	if a == b || c == d {
		t.Fatal("different inputs hash alike")
	}
	if !a.Valid() || Chain(a, b) == Chain(b, a) || Chain("", b) != "" || Chain(a, "") != "" {
		t.Fatal("Chain")
	}
	h := NewHasher("t")
	h.File("missing", filepath.Join(t.TempDir(), "nope"))
	if _, err := h.Sum(); err == nil {
		t.Fatal("a missing file made a key")
	}
}

// TestStoreCopyOut checks that a blob copied out keeps its bytes and its
// holes, and that a blob whose bytes changed is not copied out.
func TestStoreCopyOut(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	// 64 MiB, data only at the start and at 32 MiB.
	f.WriteAt([]byte("head"), 0)
	f.WriteAt([]byte("middle"), 32<<20)
	f.Truncate(64 << 20)
	f.Close()
	k := testKey('f')
	digest, size, err := s.PutFile(k, "disk", src)
	if err != nil || size != 64<<20 {
		t.Fatalf("PutFile: %d %v", size, err)
	}
	dst := filepath.Join(dir, "out.raw")
	got, n, err := s.CopyOut(k, "disk", dst, digest)
	if err != nil || got != digest || n != size {
		t.Fatalf("CopyOut: %s %d %v; want %s %d", got, n, err, digest, size)
	}
	b, _ := os.ReadFile(dst)
	if string(b[:4]) != "head" || string(b[32<<20:32<<20+6]) != "middle" || len(b) != 64<<20 {
		t.Fatal("the copy's bytes differ")
	}
	for _, p := range []string{filepath.Join(s.BlobDir(k), "disk"), dst} {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Blocks*512 > 1<<20 {
			t.Errorf("%s takes %d bytes on disk: its holes were filled", p, st.Blocks*512)
		}
	}

	// One changed byte: the copy is refused and dst is left alone.
	blob := filepath.Join(s.BlobDir(k), "disk")
	bf, err := os.OpenFile(blob, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	bf.WriteAt([]byte("x"), 1<<20)
	bf.Close()
	dst2 := filepath.Join(dir, "out2.raw")
	_, _, err = s.CopyOut(k, "disk", dst2, digest)
	var d *DamagedError
	if !errors.As(err, &d) || d.Key != k {
		t.Fatalf("CopyOut of a changed blob: %v; want a DamagedError", err)
	}
	if _, err := os.Stat(dst2); !os.IsNotExist(err) {
		t.Errorf("a damaged blob was written out: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// BenchmarkCopyOut copies a 512 MiB cached disk out as a qemu build
// reusing it does (the file is in the page cache after the first run).
func BenchmarkCopyOut(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "disk")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range 512 {
		rand.Read(buf)
		if i%8 == 7 {
			continue // a hole every 8 MiB
		}
		f.WriteAt(buf, int64(i)<<20)
	}
	f.Truncate(512 << 20)
	f.Close()
	k := testKey('b')
	digest, _, err := s.PutFile(k, "disk", src)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(512 << 20)
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := s.CopyOut(k, "disk", filepath.Join(dir, fmt.Sprintf("out%d", i)), digest); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(filepath.Join(dir, fmt.Sprintf("out%d", i)))
		b.StartTimer()
	}
}
