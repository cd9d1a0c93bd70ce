package docker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/provisioners"
)

// TestExportPathExists: an existing export_path is refused without
// -force, before any container starts, and kept as it was; -force
// replaces it.
func TestExportPathExists(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	cfg := testConfig()
	cfg.ExportPath = filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(cfg.ExportPath, []byte("an earlier export"), 0o644); err != nil {
		t.Fatal(err)
	}
	provisioned := false
	hook := func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		provisioned = true
		return nil
	}
	_, err := New(cfg, testOptions(runID, "export-exists")).Build(ctx, newUI(t), hook)
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("error = %v, want export_path already exists ... -force", err)
	}
	if provisioned {
		t.Error("the build provisioned before refusing the export path")
	}
	if got := readFile(t, cfg.ExportPath); got != "an earlier export" {
		t.Errorf("export_path was overwritten without -force: %d bytes", len(got))
	}

	opts := testOptions(runID, "export-exists")
	opts.Force = true
	art, err := New(cfg, opts).Build(ctx, newUI(t), hook)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(cfg.ExportPath); err != nil || fi.Size() != art.Items[0].Size || fi.Size() < 1<<20 {
		t.Errorf("with -force: %v, %v; artifact %+v", fi, err, art.Items[0])
	}
}

// TestExportPathAppears: an export_path that appears while the build
// runs is not overwritten either.
func TestExportPathAppears(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	cfg := testConfig()
	cfg.ExportPath = filepath.Join(t.TempDir(), "out", "rootfs.tar")
	_, err := New(cfg, testOptions(runID, "export-appears")).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		if err := os.MkdirAll(filepath.Dir(cfg.ExportPath), 0o755); err != nil {
			return err
		}
		return os.WriteFile(cfg.ExportPath, []byte("written meanwhile"), 0o644)
	})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("error = %v, want export_path already exists", err)
	}
	if got := readFile(t, cfg.ExportPath); got != "written meanwhile" {
		t.Errorf("export_path was overwritten: %d bytes", len(got))
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(cfg.ExportPath), ".*tmp*")); len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}
