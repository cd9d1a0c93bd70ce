package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/bake-tool/bake/internal/destdir"
)

// untar extracts the archive the engine made of one directory into dst:
// with contents, the archive's top directory is dropped so its entries go
// straight into dst. The container controls the archive, so nothing is
// written outside dst: no name leaves it, and no link (in the archive or
// left in dst by an earlier download) is followed out of it. Modes keep
// their permission bits only.
func untar(ctx context.Context, tr *tar.Reader, dst string, contents bool) error {
	d, err := destdir.Open(dst)
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
		name, ok := archiveName(h.Name, contents)
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
			old, ok := archiveName(h.Linkname, contents)
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
// the top directory of a contents download.
func archiveName(name string, contents bool) (string, bool) {
	name = path.Clean(strings.TrimPrefix(name, "/"))
	if !contents {
		return name, true
	}
	_, rest, ok := strings.Cut(name, "/")
	return rest, ok
}
