package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildManifestPathCheckedFirst: a -manifest path that cannot be
// written is a usage error before any build runs, not a failure found
// after every build ran.
func TestBuildManifestPathCheckedFirst(t *testing.T) {
	srcs, refs := nullSources("a")
	dir := t.TempDir()
	marker := filepath.Join(dir, "built")
	tmpl := writeTemplate(t, srcs+`
build {
  sources = `+refs+`
  provisioner "shell-local" {
    inline = ["touch `+marker+`"]
  }
}
`)
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path string }{
		{"directory missing", filepath.Join(dir, "no-such-dir", "m.sigstore.json")},
		{"parent is a file", filepath.Join(file, "m.sigstore.json")},
		{"path is a directory", dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := bakeRun(t, os.Environ(), "build", "-manifest", tc.path, tmpl)
			if code != exitUsage {
				t.Errorf("exit %d, want %d\n%s%s", code, exitUsage, stdout, stderr)
			}
			if !strings.Contains(stderr, "-manifest "+tc.path) {
				t.Errorf("stderr does not name -manifest %s:\n%s", tc.path, stderr)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("the build ran before the manifest path was checked")
				os.Remove(marker)
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".*"))
			if len(left) > 0 {
				t.Errorf("the check left %q", left)
			}
		})
	}
}
