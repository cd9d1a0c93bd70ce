package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Key is a cache key: "sha256:" and 64 hex digits. The zero Key means
// "not cacheable": a step without a key always runs.
type Key string

// Hex is the key's 64 hex digits ("" for the zero Key).
func (k Key) Hex() string { return strings.TrimPrefix(string(k), "sha256:") }

// Short is the key's first 12 hex digits, as output shows it.
func (k Key) Short() string {
	h := k.Hex()
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Valid reports whether k is "sha256:" and 64 lower-case hex digits.
func (k Key) Valid() bool {
	h, ok := strings.CutPrefix(string(k), "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseKey checks s is a key.
func ParseKey(s string) (Key, error) {
	k := Key(s)
	if !k.Valid() {
		return "", fmt.Errorf("cache key %q: want sha256: and 64 lower-case hex digits", s)
	}
	return k, nil
}

// Hasher accumulates the inputs of one key. Every value is written with
// its name and length, so that no two different sequences of inputs hash
// the same bytes ("ab","c" and "a","bc" differ).
type Hasher struct {
	h   hash.Hash
	err error
}

// NewHasher starts a key for inputs of the given kind ("docker base",
// "provisioner shell", ...).
func NewHasher(kind string) *Hasher {
	h := &Hasher{h: sha256.New()}
	h.String("bake-cache-v1", kind)
	return h
}

func (h *Hasher) raw(b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.h.Write(n[:])
	h.h.Write(b)
}

// String adds a named string.
func (h *Hasher) String(name, v string) {
	h.raw([]byte(name))
	h.raw([]byte(v))
}

// Strings adds a named list, in its order.
func (h *Hasher) Strings(name string, vs []string) {
	h.String(name, fmt.Sprint(len(vs)))
	for i, v := range vs {
		h.String(fmt.Sprintf("%s[%d]", name, i), v)
	}
}

// Map adds a named map, in sorted key order.
func (h *Hasher) Map(name string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h.String(name, fmt.Sprint(len(keys)))
	for _, k := range keys {
		h.String(name+"."+k, m[k])
	}
}

// Value adds any value by its Go syntax (%#v): for booleans, numbers and
// small structs of them.
func (h *Hasher) Value(name string, v any) { h.String(name, fmt.Sprintf("%#v", v)) }

// Secret adds a value that must not be kept in clear: only its sha256
// enters the key.
func (h *Hasher) Secret(name, v string) {
	sum := sha256.Sum256([]byte(v))
	h.String(name, "sha256:"+hex.EncodeToString(sum[:]))
}

// Key adds another key (the base's, a previous step's).
func (h *Hasher) Key(name string, k Key) { h.String(name, string(k)) }

// File adds a local file's contents and permission bits (a directory:
// every file under it, by relative path, with symlinks as their target).
// A file that cannot be read makes Sum fail.
func (h *Hasher) File(name, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		h.fail(fmt.Errorf("%s: %w", name, err))
		return
	}
	if !fi.IsDir() {
		h.file(name, path, fi)
		return
	}
	h.String(name, "dir")
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.String(name+"/"+rel, "symlink:"+t)
		case d.IsDir():
			h.String(name+"/"+rel, fmt.Sprintf("dir %o", info.Mode().Perm()))
		default:
			h.file(name+"/"+rel, p, info)
		}
		return nil
	})
	if err != nil {
		h.fail(fmt.Errorf("%s: %w", name, err))
	}
}

func (h *Hasher) file(name, path string, fi fs.FileInfo) {
	f, err := os.Open(path)
	if err != nil {
		h.fail(fmt.Errorf("%s: %w", name, err))
		return
	}
	defer f.Close()
	c := sha256.New()
	if _, err := io.Copy(c, f); err != nil {
		h.fail(fmt.Errorf("%s: read %s: %w", name, path, err))
		return
	}
	h.String(name, fmt.Sprintf("file %o sha256:%x", fi.Mode().Perm(), c.Sum(nil)))
}

func (h *Hasher) fail(err error) {
	if h.err == nil {
		h.err = err
	}
}

// Sum returns the key of everything added, or the first error (a file
// that could not be read).
func (h *Hasher) Sum() (Key, error) {
	if h.err != nil {
		return "", h.err
	}
	return Key("sha256:" + hex.EncodeToString(h.h.Sum(nil))), nil
}

// Keyer is implemented by a provisioner whose effect on the machine is
// fully given by its evaluated configuration and the files it names. It
// adds to h every input that shapes the machine, and nothing that only
// names or times things. A provisioner that is not a Keyer (or whose
// CacheKey fails) is not cacheable: it and every step after it run.
type Keyer interface {
	CacheKey(h *Hasher) error
}

// Chain returns the key of a step: the previous key (the base's for the
// first step) chained with the step's own. A zero prev or step gives the
// zero Key: after a step that is not cacheable nothing is.
func Chain(prev, step Key) Key {
	if prev == "" || step == "" {
		return ""
	}
	h := NewHasher("chain")
	h.Key("prev", prev)
	h.Key("step", step)
	k, _ := h.Sum()
	return k
}
