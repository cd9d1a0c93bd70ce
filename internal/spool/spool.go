// Package spool gives a reader its length before a transfer that must
// announce it (tar headers, SCP), spooling to an unlinked temporary file
// when the length cannot be known without reading.
package spool

import (
	"fmt"
	"io"
	"os"
)

// KnownSize returns how many bytes r holds from its current position, or
// -1 when it cannot tell without reading: in-memory readers (Len) and
// regular files (Stat and the current offset) can tell.
func KnownSize(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len())
	case *os.File:
		fi, err := r.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		pos, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return fi.Size() - pos
	}
	return -1
}

// Sized returns r with its length, for transfers that announce a file's
// size before its content (tar headers, SCP). A reader of unknown length
// is spooled to a temporary file first, never to memory; the file is
// unlinked as soon as it is created, so nothing is left on disk even if
// bake is killed. done releases it.
func Sized(r io.Reader) (sized io.Reader, size int64, done func(), err error) {
	if n := KnownSize(r); n >= 0 {
		return io.LimitReader(r, n), n, func() {}, nil
	}
	f, err := os.CreateTemp("", "bake-spool-")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("spool upload: %w", err)
	}
	os.Remove(f.Name())
	n, err := io.Copy(f, r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("spool upload: %w", err)
	}
	return f, n, func() { f.Close() }, nil
}
