package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts"
)

// Kinds of entries.
const (
	KindDockerStep  = "docker-step"  // a docker image committed after a provisioner
	KindDockerImage = "docker-image" // a docker build's final image
	KindQemuDisk    = "qemu-disk"    // a qemu build's output disk, in the cache directory
	KindAMI         = "ami"          // an AMI per region, tagged with the key
)

// Entry is what the index records for one key.
type Entry struct {
	Key  Key    `json:"key"`
	Kind string `json:"kind"`
	// Build is the "type.name" and Step the step label that made it.
	Build string `json:"build,omitempty"`
	Step  string `json:"step,omitempty"`
	// RunID is the run that produced the entry.
	RunID    string    `json:"runId"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"lastUsed"`
	// Ref names the payload: a docker image id, a file name under the
	// entry's blob directory, an AMI id.
	Ref string `json:"ref"`
	// Digest is the payload's content digest ("sha256:<hex>"), checked
	// before each use: a docker image id, a file's sha256.
	Digest string `json:"digest,omitempty"`
	// Size is the payload's size in bytes.
	Size int64 `json:"size"`
	// Extra holds what else the builder needs to reuse the entry (AMI ids
	// per region, the file's checksum name...).
	Extra map[string]string `json:"extra,omitempty"`
}

// ParseEntry reads an index file and checks what it says.
func ParseEntry(b []byte) (*Entry, error) {
	var e Entry
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("cache entry: %w", err)
	}
	if dec.More() {
		return nil, errors.New("cache entry: data after the JSON object")
	}
	if !e.Key.Valid() {
		return nil, fmt.Errorf("cache entry: key %q is not sha256:<64 hex>", e.Key)
	}
	switch e.Kind {
	case KindDockerStep, KindDockerImage, KindQemuDisk, KindAMI:
	default:
		return nil, fmt.Errorf("cache entry %s: unknown kind %q", e.Key.Short(), e.Kind)
	}
	if e.Ref == "" {
		return nil, fmt.Errorf("cache entry %s: no ref", e.Key.Short())
	}
	if e.Kind == KindQemuDisk && (strings.ContainsAny(e.Ref, `/\`) || e.Ref == "." || e.Ref == "..") {
		return nil, fmt.Errorf("cache entry %s: file name %q is not a plain name", e.Key.Short(), e.Ref)
	}
	if e.Size < 0 {
		return nil, fmt.Errorf("cache entry %s: negative size", e.Key.Short())
	}
	return &e, nil
}

// Store is the local cache directory:
//
//	DIR/index/<hex>.json   one Entry per key
//	DIR/blobs/<hex>/NAME   files the entry holds (qemu disks)
//
// Writes are atomic (temporary file and rename) and each key has a lock
// (DIR/index/<hex>.json.lock), so that two bake processes storing or
// using the same key at once see one whole entry or none.
type Store struct {
	Dir string
	now func() time.Time
}

// Dir returns $BAKE_CACHE_DIR, else os.UserCacheDir()/bake.
func Dir() (string, error) {
	if d := os.Getenv("BAKE_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: set BAKE_CACHE_DIR: %w", err)
	}
	return filepath.Join(d, "bake"), nil
}

// Open returns the store in dir, creating it.
func Open(dir string) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "index"), filepath.Join(dir, "blobs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cache directory: %w", err)
		}
	}
	return &Store{Dir: dir, now: time.Now}, nil
}

func (s *Store) indexPath(k Key) string { return filepath.Join(s.Dir, "index", k.Hex()+".json") }

// BlobDir is the directory that holds the files of key k.
func (s *Store) BlobDir(k Key) string { return filepath.Join(s.Dir, "blobs", k.Hex()) }

// Lock takes the key's lock, blocking until it is held.
func (s *Store) Lock(k Key) (unlock func() error, err error) {
	if !k.Valid() {
		return nil, fmt.Errorf("lock cache key %q: not a key", k)
	}
	return artifacts.LockFile(s.indexPath(k))
}

// Get returns the entry of k, or nil when there is none. An index file
// that does not parse, or that names another key, is removed and counts
// as none.
func (s *Store) Get(k Key) (*Entry, error) {
	if !k.Valid() {
		return nil, nil
	}
	b, err := os.ReadFile(s.indexPath(k))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cache entry: %w", err)
	}
	e, err := ParseEntry(b)
	if err != nil || e.Key != k {
		s.Remove(k)
		return nil, nil
	}
	return e, nil
}

// Put writes e, replacing what its key held.
func (s *Store) Put(e *Entry) error {
	if !e.Key.Valid() {
		return fmt.Errorf("store cache entry: key %q is not a key", e.Key)
	}
	if e.Created.IsZero() {
		e.Created = s.now().UTC()
	}
	if e.LastUsed.IsZero() {
		e.LastUsed = e.Created
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := artifacts.WriteFileAtomic(s.indexPath(e.Key), b, 0o600); err != nil {
		return fmt.Errorf("store cache entry %s: %w", e.Key.Short(), err)
	}
	return nil
}

// Touch records that e was used now.
func (s *Store) Touch(e *Entry) error {
	e.LastUsed = s.now().UTC()
	return s.Put(e)
}

// Remove removes k's index file and blobs (not a docker image or an
// AMI: the caller removes those first).
func (s *Store) Remove(k Key) error {
	if !k.Valid() {
		return nil
	}
	err := os.Remove(s.indexPath(k))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, os.RemoveAll(s.BlobDir(k)))
}

// List returns every entry, the most recently used first. Index files that
// do not parse are skipped (Get removes them).
func (s *Store) List() ([]*Entry, error) {
	des, err := os.ReadDir(filepath.Join(s.Dir, "index"))
	if err != nil {
		return nil, fmt.Errorf("list cache: %w", err)
	}
	var out []*Entry
	for _, d := range des {
		if !strings.HasSuffix(d.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Dir, "index", d.Name()))
		if err != nil {
			continue
		}
		if e, err := ParseEntry(b); err == nil && e.Key.Hex()+".json" == d.Name() {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, nil
}

// PutFile copies src into k's blob directory as name and returns its
// sha256 ("sha256:<hex>") and size. The copy is written under a temporary
// name and renamed, so a reader never sees half a file; runs of zeros are
// left as holes, so a sparse disk stays sparse.
func (s *Store) PutFile(k Key, name, src string) (digest string, size int64, err error) {
	if !k.Valid() {
		return "", 0, fmt.Errorf("cache blob: key %q is not a key", k)
	}
	dir := s.BlobDir(k)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, err
	}
	return copyFileAtomic(src, filepath.Join(dir, name), 0o600, nil)
}

// PutReader writes what r yields as k's blob name (atomically, holes
// kept) and returns its digest and size; when want is not "" and the
// digest differs, nothing is written and the error says so: a download
// that does not match what the registry said is not kept.
func (s *Store) PutReader(k Key, name string, r io.Reader, want string) (digest string, size int64, err error) {
	if !k.Valid() {
		return "", 0, fmt.Errorf("cache blob: key %q is not a key", k)
	}
	dir := s.BlobDir(k)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, err
	}
	return writeAtomic(r, filepath.Join(dir, name), 0o600, func(digest string) error {
		if want != "" && digest != want {
			return &DamagedError{Key: k, What: name, Got: digest, Want: want}
		}
		return nil
	})
}

// CopyOut copies k's blob name to dst (written under a temporary name
// beside it and renamed, holes kept) and returns the sha256 of what it
// copied and its size. When want is not "" and the copy's digest differs,
// dst is not written and the error says the entry is damaged: a
// truncated or changed blob is never handed out.
func (s *Store) CopyOut(k Key, name, dst, want string) (digest string, size int64, err error) {
	if !k.Valid() {
		return "", 0, fmt.Errorf("cache blob: key %q is not a key", k)
	}
	src := filepath.Join(s.BlobDir(k), name)
	return copyFileAtomic(src, dst, 0o644, func(digest string) error {
		if want != "" && digest != want {
			return &DamagedError{Key: k, What: name, Got: digest, Want: want}
		}
		return nil
	})
}

// DamagedError says a cache entry's payload does not have the digest its
// index records.
type DamagedError struct {
	Key             Key
	What, Got, Want string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("cache entry %s: %s has digest %s, want %s", e.Key.Short(), e.What, e.Got, e.Want)
}

// copyFileAtomic copies src to dst through a temporary file in dst's
// directory, hashing what it reads and seeking over whole blocks of zeros
// (so that they stay holes), then renames it. check, when not nil, sees
// the digest before the rename and may refuse the copy. There is no
// fsync: every use of a blob checks its digest, so one cut short by a
// crash is refused then, and an fsync of a disk image costs seconds.
func copyFileAtomic(src, dst string, perm os.FileMode, check func(digest string) error) (digest string, size int64, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	return writeAtomic(in, dst, perm, check)
}

// writeAtomic is copyFileAtomic reading from in.
func writeAtomic(in io.Reader, dst string, perm os.FileMode, check func(digest string) error) (digest string, size int64, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	size, err = sparseCopy(tmp, in, h)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if check != nil {
		if err := check(digest); err != nil {
			return "", 0, err
		}
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, err
	}
	return digest, size, nil
}

// sparseBlock is the unit sparseCopy writes or skips.
const sparseBlock = 64 << 10

// sparseCopy copies r to f, seeking over blocks that are all zeros, and
// sets f's size to what it copied. h sees every byte, in a goroutine of
// its own, so that hashing overlaps reading and writing.
func sparseCopy(f *os.File, r io.Reader, h hash.Hash) (int64, error) {
	const chunk, inFlight = 1 << 20, 4
	free := make(chan []byte, inFlight)
	for range inFlight {
		free <- make([]byte, chunk)
	}
	work := make(chan []byte, inFlight)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range work {
			h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	defer func() { close(work); <-done }()
	var n int64
	for {
		buf := <-free
		m, rerr := io.ReadFull(r, buf)
		for off := 0; off < m; off += sparseBlock {
			blk := buf[off:min(off+sparseBlock, m)]
			if allZero(blk) {
				continue
			}
			if _, err := f.WriteAt(blk, n+int64(off)); err != nil {
				return 0, err
			}
		}
		work <- buf[:m]
		n += int64(m)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return 0, rerr
		}
	}
	return n, f.Truncate(n)
}

var zeroBlock = make([]byte, sparseBlock)

func allZero(b []byte) bool { return bytes.Equal(b, zeroBlock[:len(b)]) }

// CheckFile hashes k's blob name and reports an error unless it has the
// digest want: a truncated or changed file is never used.
func (s *Store) CheckFile(k Key, name, want string) error {
	f, err := os.Open(filepath.Join(s.BlobDir(k), name))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("cache entry %s: %s has digest %s, want %s", k.Short(), name, got, want)
	}
	return nil
}

// WriteBlob writes data as k's blob name, atomically.
func (s *Store) WriteBlob(k Key, name string, data []byte) error {
	if !k.Valid() {
		return fmt.Errorf("cache blob: key %q is not a key", k)
	}
	if err := os.MkdirAll(s.BlobDir(k), 0o700); err != nil {
		return err
	}
	return artifacts.WriteFileAtomic(filepath.Join(s.BlobDir(k), name), data, 0o600)
}

// ReadBlob reads k's blob name.
func (s *Store) ReadBlob(k Key, name string) ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("cache blob: key %q is not a key", k)
	}
	return os.ReadFile(filepath.Join(s.BlobDir(k), name))
}
