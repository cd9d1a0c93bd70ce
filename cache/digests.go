package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bake-tool/bake/artifacts"
)

// A qemu build's key starts from its base disk's sha256, and hashing a
// disk of a few GiB costs seconds on every build. The store remembers,
// per file, the sha256 it computed with what identifies that version of
// the file: its path, device, inode, size, mtime and ctime. ctime changes
// with every write, rename or chmod and cannot be set from user space, so
// a file changed since (by any means) misses and is hashed again.
//
//	DIR/digests/<sha256 of the path>.json

// FileDigest is one remembered digest.
type FileDigest struct {
	Path   string `json:"path"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Size   int64  `json:"size"`
	Mtime  int64  `json:"mtimeNs"`
	Ctime  int64  `json:"ctimeNs"`
	SHA256 string `json:"sha256"` // 64 hex digits
}

// settleTime is how long after a file's last change its digest may be
// remembered: a write in the same coarse clock tick as the change before
// hashing could leave mtime and ctime as they were (see
// artifacts.HashAndRemember).
const settleTime = 25 * time.Millisecond

// fileVersion identifies the version of the file at path (absolute).
func fileVersion(path string) (FileDigest, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileDigest{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return FileDigest{}, fmt.Errorf("%s: not a regular file", path)
	}
	return FileDigest{Path: path, Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}, nil
}

func (s *Store) digestPath(path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(s.Dir, "digests", hex.EncodeToString(sum[:])+".json")
}

// ParseFileDigest reads a remembered digest and checks what it says.
func ParseFileDigest(b []byte) (*FileDigest, error) {
	var d FileDigest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("remembered digest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("remembered digest: data after the JSON object")
	}
	if !filepath.IsAbs(d.Path) || d.Size < 0 || !Key("sha256:"+d.SHA256).Valid() {
		return nil, fmt.Errorf("remembered digest of %q: not an absolute path, a size and 64 hex digits", d.Path)
	}
	return &d, nil
}

// RememberedSHA256 returns the hex sha256 remembered for the file at path
// when the file is still the version that was hashed; ok is false
// otherwise.
func (s *Store) RememberedSHA256(path string) (sum string, ok bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	b, err := os.ReadFile(s.digestPath(abs))
	if err != nil {
		return "", false
	}
	d, err := ParseFileDigest(b)
	if err != nil {
		return "", false
	}
	now, err := fileVersion(abs)
	if err != nil {
		return "", false
	}
	now.SHA256 = d.SHA256
	if now != *d {
		return "", false
	}
	return d.SHA256, true
}

// HashFile hashes the file at path (every byte also to w, when not nil)
// and remembers its sha256 for RememberedSHA256 when the file did not
// change while it was read and its last change is settleTime old.
func (s *Store) HashFile(path string, w func(p []byte)) (sum string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	before, verr := fileVersion(abs)
	if verr == nil {
		last := time.Unix(0, max(before.Mtime, before.Ctime))
		if wait := settleTime - time.Since(last); wait > 0 {
			time.Sleep(wait)
			before, verr = fileVersion(abs)
		}
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			if w != nil {
				w(buf[:n])
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("hash %s: %w", abs, rerr)
		}
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if after, err := fileVersion(abs); verr == nil && err == nil && after == before {
		before.SHA256 = sum
		if b, err := json.Marshal(before); err == nil {
			if os.MkdirAll(filepath.Dir(s.digestPath(abs)), 0o700) == nil {
				_ = artifacts.WriteFileAtomic(s.digestPath(abs), b, 0o600)
			}
		}
	}
	return sum, nil
}
