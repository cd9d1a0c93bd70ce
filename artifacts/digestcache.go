package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// A builder that writes a large file (a qemu disk) hashes it once, right
// after writing it, while its blocks are in the page cache. The run
// manifest and the checksum post-processor then need the same sha256.
// Rather than read the file two more times, they find it here, in a cache
// that lives only in this process and holds only digests that
// HashAndRemember computed.
//
// An entry is keyed on the file's path, device, inode, size, mtime and
// ctime. ctime cannot be set from user space and changes with every write,
// rename or chmod, so a file changed after hashing misses the cache and is
// hashed again. File timestamps come from a coarse clock (one kernel tick,
// a few ms), so a write in the same tick as the last change before hashing
// could leave them unchanged: HashAndRemember starts hashing only once
// settleTime has passed since the file's last change, and records the
// digest only when the file's metadata is the same after hashing as
// before. A write after that lands in a later tick and changes ctime.

// settleTime is how long after a file's last change HashAndRemember
// starts hashing it: several kernel ticks (4 ms at HZ=250, 10 ms at
// HZ=100).
const settleTime = 25 * time.Millisecond

type digestKey struct {
	path         string
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // ns
}

var digestCache = struct {
	sync.Mutex
	m map[digestKey]string
}{m: map[digestKey]string{}}

// keyOf returns the cache key of fi (at path), and false when the file
// system gives no inode data.
func keyOf(path string, fi os.FileInfo) (digestKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return digestKey{}, false
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return digestKey{}, false
	}
	return digestKey{
		path:  abs,
		dev:   uint64(st.Dev),
		ino:   st.Ino,
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
	}, true
}

// CachedSHA256 returns the digest HashAndRemember recorded for the file at
// path when the file has not changed since; ok is false otherwise.
func CachedSHA256(path string) (sum string, size int64, ok bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", 0, false
	}
	k, ok := keyOf(path, fi)
	if !ok {
		return "", 0, false
	}
	digestCache.Lock()
	sum, ok = digestCache.m[k]
	digestCache.Unlock()
	return sum, k.size, ok
}

// HashAndRemember returns the hex sha256 of the file at path and its size,
// and remembers the digest for FileSHA256 (and CachedSHA256) while the
// file stays unchanged. w, when not nil, sees the bytes as they are hashed
// (for another digest in the same pass).
func HashAndRemember(path string, w io.Writer) (sum string, size int64, err error) {
	before, err := os.Stat(path)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	if k, ok := keyOf(path, before); ok {
		last := time.Unix(0, max(k.mtime, k.ctime))
		if wait := settleTime - time.Since(last); wait > 0 {
			time.Sleep(wait)
			if before, err = os.Stat(path); err != nil {
				return "", 0, fmt.Errorf("hash %s: %w", path, err)
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	var dst io.Writer = h
	if w != nil {
		dst = io.MultiWriter(h, w)
	}
	n, err := io.CopyBuffer(dst, f, make([]byte, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	after, err := os.Stat(path)
	if err != nil {
		return sum, n, nil
	}
	kb, okb := keyOf(path, before)
	ka, oka := keyOf(path, after)
	if okb && oka && kb == ka && ka.size == n {
		digestCache.Lock()
		digestCache.m[ka] = sum
		digestCache.Unlock()
	}
	return sum, n, nil
}

// Remember records sum, the hex sha256 of the file at path, for
// FileSHA256 and CachedSHA256 while the file stays unchanged. It is for a
// caller that computed sum over the very bytes it wrote to path (a copy
// it checked as it wrote it), with nothing else writing the file since.
func Remember(path, sum string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if k, ok := keyOf(path, fi); ok {
		digestCache.Lock()
		digestCache.m[k] = sum
		digestCache.Unlock()
	}
}
