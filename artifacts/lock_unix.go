//go:build unix

package artifacts

import (
	"fmt"
	"os"
	"syscall"
)

// errSyncUnsupported is what fsync of a directory returns on file systems
// that do not support it.
var errSyncUnsupported = syscall.EINVAL

// LockFile takes an exclusive advisory lock (flock) on the sibling file
// path+".lock", creating it if needed, and blocks until the lock is held.
// It serialises read-modify-write cycles on path between goroutines and
// between processes. The returned unlock releases the lock; the lock file
// stays, since removing it would race with a waiting process.
func LockFile(path string) (unlock func() error, err error) {
	lockPath := path + ".lock"
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
	return func() error {
		// Closing the descriptor releases the flock.
		return f.Close()
	}, nil
}
