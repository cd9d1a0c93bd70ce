package destdir

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Untar extracts the archive a machine made of one directory into dst:
// directories, regular files, symbolic and hard links (other entries are
// skipped). With stripTop, the archive's top directory is dropped, so that
// its entries go straight into dst. Nothing is written outside dst, and
// modes keep their permission bits only (see Dir).
func Untar(ctx context.Context, tr *tar.Reader, dst string, stripTop bool) error {
	d, err := Open(dst)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name, ok := archiveName(h.Name, stripTop)
		if !ok {
			continue // the top directory itself
		}
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			err = d.Mkdir(name, mode, h.ModTime)
		case tar.TypeReg:
			err = d.WriteFile(name, mode, h.ModTime, tr)
		case tar.TypeSymlink:
			err = d.Symlink(name, h.Linkname)
		case tar.TypeLink:
			old, ok := archiveName(h.Linkname, stripTop)
			if !ok {
				return fmt.Errorf("archive entry %q: hard link to the top directory", h.Name)
			}
			err = d.Link(name, old)
		}
		if err != nil {
			return err
		}
	}
	return d.Finish()
}

// archiveName is an entry's name relative to the destination; false for
// the top directory when it is stripped.
func archiveName(name string, stripTop bool) (string, bool) {
	name = path.Clean(strings.TrimPrefix(name, "/"))
	if !stripTop {
		return name, true
	}
	_, rest, ok := strings.Cut(name, "/")
	return rest, ok
}
