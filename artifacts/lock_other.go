//go:build !unix

package artifacts

import (
	"errors"
	"fmt"
)

var errSyncUnsupported = errors.New("sync unsupported")

// LockFile is not supported on this platform.
func LockFile(path string) (unlock func() error, err error) {
	return nil, fmt.Errorf("lock %s: file locking is not supported on this platform", path)
}
