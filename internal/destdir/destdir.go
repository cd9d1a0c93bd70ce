// Package destdir writes a directory tree that comes from a machine (a
// container's archive, an SFTP walk, an SCP stream) into a local
// destination directory, and never writes outside it.
//
// The machine controls the names, the symbolic links and the order of
// what it sends, and the destination may hold links from an earlier
// download. So every write goes through an os.Root opened on the
// destination: a link is followed only while it stays inside, and an
// entry already in the way of a file, link or directory that arrives is
// replaced, never written through. Modes keep only the permission bits:
// setuid, setgid and sticky bits from the machine are dropped.
package destdir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Dir is a destination directory being filled. Names given to its methods
// are relative, slash-separated and must stay inside (filepath.IsLocal);
// parent directories are made as needed. It is not safe for concurrent
// use.
type Dir struct {
	root *os.Root
	dirs []dirMeta
}

// dirMeta is a directory's mode and time, set by Finish.
type dirMeta struct {
	name  string
	mode  fs.FileMode
	mtime time.Time
}

// Open makes dst (and its parents) if needed and returns it as a
// destination. dst itself is the caller's: a link there is followed.
func Open(dst string) (*Dir, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return nil, err
	}
	return &Dir{root: root}, nil
}

// local checks a name from the machine and returns it in the local form;
// "." is the destination itself.
func local(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("name %q: contains a NUL byte", name)
	}
	clean := path.Clean(name)
	if clean == "." {
		return ".", nil
	}
	l := filepath.FromSlash(clean)
	if !filepath.IsLocal(l) {
		return "", fmt.Errorf("name %q leaves the destination", name)
	}
	return l, nil
}

// clear makes way at name for a new entry: anything there that is not a
// directory is removed (a link is removed, not followed). It reports
// whether a directory is there.
func (d *Dir) clear(name string) (isDir bool, err error) {
	if err := d.root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return false, err
	}
	fi, err := d.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case fi.IsDir():
		return true, nil
	}
	return false, d.root.Remove(name)
}

// Mkdir makes the directory name, replacing a file or link in the way.
// The directory stays writable by its owner until Finish gives it mode
// (permission bits only) and mtime (unless zero). Mkdir(".") leaves the
// destination's own mode alone.
func (d *Dir) Mkdir(name string, mode fs.FileMode, mtime time.Time) error {
	l, err := local(name)
	if err != nil || l == "." {
		return err
	}
	isDir, err := d.clear(l)
	if err != nil {
		return fmt.Errorf("make directory %s: %w", name, err)
	}
	if !isDir {
		if err := d.root.Mkdir(l, 0o700); err != nil {
			return fmt.Errorf("make directory %s: %w", name, err)
		}
	}
	if err := d.root.Chmod(l, 0o700); err != nil {
		return fmt.Errorf("make directory %s: %w", name, err)
	}
	d.dirs = append(d.dirs, dirMeta{l, mode.Perm(), mtime})
	return nil
}

// WriteFile writes r to a new file name with mode (permission bits only)
// and mtime (unless zero), replacing a file or link in the way.
func (d *Dir) WriteFile(name string, mode fs.FileMode, mtime time.Time, r io.Reader) (err error) {
	l, err := local(name)
	if err != nil {
		return err
	}
	if l == "." {
		return fmt.Errorf("write %s: is the destination directory", name)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("write %s: %w", name, err)
		}
	}()
	isDir, err := d.clear(l)
	if err != nil {
		return err
	}
	if isDir {
		return errors.New("a directory is in the way")
	}
	f, err := d.root.OpenFile(l, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if !mtime.IsZero() {
		return d.root.Chtimes(l, mtime, mtime)
	}
	return nil
}

// Symlink makes name a symbolic link to target, replacing a file or link
// in the way. The target is stored as given; later writes through the
// link are confined to the destination like any other.
func (d *Dir) Symlink(name, target string) error {
	l, err := local(name)
	if err != nil {
		return err
	}
	if l == "." {
		return fmt.Errorf("link %s: is the destination directory", name)
	}
	isDir, err := d.clear(l)
	if err == nil && isDir {
		err = errors.New("a directory is in the way")
	}
	if err == nil {
		err = d.root.Symlink(target, l)
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	return nil
}

// Link makes name a hard link to old, an entry already in the
// destination, replacing a file or link in the way.
func (d *Dir) Link(name, old string) error {
	l, err := local(name)
	if err != nil {
		return err
	}
	o, err := local(old)
	if err != nil {
		return err
	}
	if l == "." || o == "." {
		return fmt.Errorf("hard link %s to %s: is the destination directory", name, old)
	}
	isDir, err := d.clear(l)
	if err == nil && isDir {
		err = errors.New("a directory is in the way")
	}
	if err == nil {
		err = d.root.Link(o, l)
	}
	if err != nil {
		return fmt.Errorf("hard link %s to %s: %w", name, old, err)
	}
	return nil
}

// Finish gives the directories made their modes and times, deepest
// first, so that a read-only directory is filled before it becomes
// read-only, and closes the destination.
func (d *Dir) Finish() error {
	var errs []error
	for _, m := range slices.Backward(d.dirs) {
		if err := d.root.Chmod(m.name, m.mode); err != nil {
			errs = append(errs, err)
			continue
		}
		if !m.mtime.IsZero() {
			if err := d.root.Chtimes(m.name, m.mtime, m.mtime); err != nil {
				errs = append(errs, err)
			}
		}
	}
	d.dirs = nil
	return errors.Join(append(errs, d.Close())...)
}

// Close releases the destination without setting directory modes. It is
// idempotent.
func (d *Dir) Close() error {
	if d.root == nil {
		return nil
	}
	err := d.root.Close()
	d.root = nil
	return err
}
