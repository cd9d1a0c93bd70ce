package qemu

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/builder"
)

// The tests in this file check that a build's cleanup removes only what
// the build itself created, when another build or program works beside
// it. None of them boots a guest.

// TestOutputDirectoryTakenMeanwhile: another build creates the output
// directory after bake checked that it does not exist. The build fails
// saying so, and the other build's directory is left as it was.
func TestOutputDirectoryTakenMeanwhile(t *testing.T) {
	dir := t.TempDir()
	outDir := filepath.Join(dir, "out")
	theirs := filepath.Join(outDir, "theirs.qcow2")
	src := "ssh_username = \"root\"\ndisk_image = true\niso_checksum = \"none\"\noutput_directory = \"" + outDir +
		"\"\niso_url = \"" + filepath.Join(dir, "missing") + "\"\n"
	b, _ := newBuilder(t, src, builder.Options{})
	state := t.TempDir()
	raced := false
	b.getenv = func(k string) string {
		if k != "BAKE_STATE_DIR" {
			return ""
		}
		// The journal is written between the check and the creation:
		// that is when the other build creates the directory.
		if !raced {
			raced = true
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				t.Error(err)
			}
			if err := os.WriteFile(theirs, []byte("another build's disk"), 0o644); err != nil {
				t.Error(err)
			}
		}
		return state
	}
	_, err := b.Build(context.Background(), newUI(t), nil)
	if !raced {
		t.Fatal("the output directory was not created between the check and the creation: the test tests nothing")
	}
	if err == nil || !strings.Contains(err.Error(), "output directory "+outDir+" already exists") {
		t.Errorf("error %v, want one saying the output directory exists", err)
	}
	if got, err := os.ReadFile(theirs); err != nil || string(got) != "another build's disk" {
		t.Fatalf("the other build's output: %q, %v", got, err)
	}
}

// TestDownloadBesideAnother: two builds download to the same
// iso_target_path. One that fails removes its own partial file, not the
// other's.
func TestDownloadBesideAnother(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("not the disk the checksum names"))
	}))
	defer srv.Close()
	target := filepath.Join(t.TempDir(), "cached.qcow2")
	// The other build's download in progress.
	theirs := target + ".part"
	if err := os.WriteFile(theirs, []byte("half of the other build's download"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := newBuilder(t, `
iso_url = "`+srv.URL+`/disk.qcow2"
iso_checksum = "sha256:`+strings.Repeat("0", 64)+`"
iso_target_path = "`+target+`"
disk_image = true
ssh_username = "root"
`, builder.Options{})
	s := &state{ui: newUI(t), outDir: t.TempDir()}
	err := b.findBase(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("error %v, want a checksum mismatch", err)
	}
	if got, err := os.ReadFile(theirs); err != nil || string(got) != "half of the other build's download" {
		t.Errorf("the other build's partial download: %q, %v", got, err)
	}
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(target), "*"))
	if len(m) != 1 {
		t.Errorf("files beside the target: %v, want only the other build's", m)
	}
}
