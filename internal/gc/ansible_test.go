package gc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLocalAnsibleTemp: the ansible provisioner's private directory of a
// killed run (bake-ansible-RUN-…, holding the proxy's key) is found by its
// run id and removed whole.
func TestLocalAnsibleTemp(t *testing.T) {
	run := "c0ffee00-1111-4222-8333-444455556666"
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "bake-ansible-"+run+"-123")
	if err := os.MkdirAll(filepath.Join(dir, "cp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "id_ed25519"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	lf := Local{TempDir: tmp}
	found, err := lf.Find(context.Background(), Filter{RunID: run})
	if err != nil || len(found) != 1 || found[0].ID != dir {
		t.Fatalf("found %+v, %v", found, err)
	}
	if rep := Sweep(context.Background(), []Finder{lf}, Options{Filter: Filter{RunID: run}}); rep.Failed() {
		t.Fatalf("sweep: %+v", rep)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory still there: %v", err)
	}
}
