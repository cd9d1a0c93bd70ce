//go:build unix

package artifacts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// errSyncUnsupported is what fsync of a directory returns on file systems
// that do not support it.
var errSyncUnsupported = syscall.EINVAL

// LockFile takes an exclusive advisory lock (flock) on the sibling file
// path+".lock", creating it if needed, and blocks until the lock is held.
// It serialises read-modify-write cycles on path between goroutines and
// between processes. The returned unlock removes the lock file and then
// releases the lock, so none is left beside path. A waiter that opened the
// file before it was removed finds, once it holds the lock, that the name
// now points elsewhere (or nowhere), and starts again on the new file.
func LockFile(path string) (unlock func() error, err error) {
	lockPath := path + ".lock"
	for {
		f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(lockPath)
		if err1 != nil || err2 != nil || !os.SameFile(held, named) {
			// The previous holder removed this file: our lock guards
			// nothing anyone else sees.
			f.Close()
			if err1 != nil {
				return nil, fmt.Errorf("lock %s: %w", path, err1)
			}
			if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
				return nil, fmt.Errorf("lock %s: %w", path, err2)
			}
			continue
		}
		return func() error {
			// Remove while still holding the lock, then close, which
			// releases it.
			rmErr := os.Remove(lockPath)
			return errors.Join(rmErr, f.Close())
		}, nil
	}
}
