package docker

import (
	"archive/tar"
	"context"

	"github.com/bake-tool/bake/internal/destdir"
)

// untar extracts the archive the engine made of one directory into dst:
// with contents, the archive's top directory is dropped so its entries go
// straight into dst. The container controls the archive, so it goes
// through destdir.Untar: nothing is written outside dst, no link (in the
// archive or left in dst by an earlier download) is followed out of it,
// and modes keep their permission bits only.
func untar(ctx context.Context, tr *tar.Reader, dst string, contents bool) error {
	return destdir.Untar(ctx, tr, dst, contents)
}
