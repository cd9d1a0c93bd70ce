package docker

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-tool/bake/internal/testutil/downloadtest"
	"github.com/bake-tool/bake/provisioners"
)

// TestDownloadDirStaysInside: a container's directory downloaded twice,
// first with links out of the destination, then with directories and
// files under the links' names, writes nothing outside the destination;
// nor does a download into a destination that already holds such links,
// or whose entry for the directory itself is such a link.
func TestDownloadDirStaysInside(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	l := downloadtest.New(t)
	cfg := testConfig()
	cfg.Discard = true
	_, err := New(cfg, testOptions(runID, "download")).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		t.Run("downloaded twice", func(t *testing.T) {
			dst := l.Dest("twice")
			run(ctx, t, comm, l.First("/m"))
			if err := comm.DownloadDir(ctx, "/m/", dst); err != nil {
				t.Fatal(err)
			}
			for name, target := range l.Links() {
				if got, err := os.Readlink(filepath.Join(dst, name)); err != nil || got != target {
					t.Errorf("first download: %s links to %q (%v), want %q", name, got, err, target)
				}
			}
			run(ctx, t, comm, l.Second("/m"))
			if err := comm.DownloadDir(ctx, "/m/", dst); err != nil {
				t.Logf("second download: %v", err)
			}
			l.CheckSecond(t, dst)
		})
		t.Run("links already in the destination", func(t *testing.T) {
			dst := l.Dest("planted")
			l.Plant(t, filepath.Join(dst, "m"))
			run(ctx, t, comm, l.Second("/m"))
			if err := comm.DownloadDir(ctx, "/m", dst); err != nil {
				t.Logf("download: %v", err)
			}
			l.CheckSecond(t, filepath.Join(dst, "m"))
		})
		t.Run("the directory itself is a link", func(t *testing.T) {
			dst := l.Dest("itself")
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(l.Outside, filepath.Join(dst, "m")); err != nil {
				t.Fatal(err)
			}
			run(ctx, t, comm, l.Second("/m"))
			if err := comm.DownloadDir(ctx, "/m", dst); err != nil {
				t.Logf("download: %v", err)
			}
			l.CheckSecond(t, filepath.Join(dst, "m"))
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Check(t)
}
