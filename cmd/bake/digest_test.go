package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-tool/bake/internal/testutil/manifesttest"
)

// TestBuildManifestTemplateDigest builds one template directory given as
// d1, as an absolute path and as ".", with a provisioner that edits a
// template file during the build: the run manifest records, every time,
// the digest of the files as they were loaded, the one sha256sum gives in
// the directory.
func TestBuildManifestTemplateDigest(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "d1")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vars := "variable \"greeting\" {\n  default = \"hello\"\n}\n"
	build := `source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    inline = ["echo '# edited during the build' >> ` + filepath.Join(dir, "variables.pkr.hcl") + `"]
  }
}
`
	sum := func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }
	// sha256sum build.pkr.hcl variables.pkr.hcl | sha256sum, in d1.
	want := sum(sum(build) + "  build.pkr.hcl\n" + sum(vars) + "  variables.pkr.hcl\n")

	for _, tc := range []struct{ cwd, path string }{{parent, "d1"}, {parent, dir}, {dir, "."}} {
		for name, src := range map[string]string{"build.pkr.hcl": build, "variables.pkr.hcl": vars} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Chdir(tc.cwd)
		manifest := filepath.Join(parent, "m.sigstore.json")
		code, stdout, stderr := bakeRun(t, os.Environ(), "build", "-color=false", "-manifest", manifest, tc.path)
		if code != exitOK {
			t.Fatalf("bake build %s: exit %d\n%s%s", tc.path, code, stdout, stderr)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "variables.pkr.hcl")); string(b) == vars {
			t.Fatalf("the provisioner did not edit the template")
		}
		got := manifesttest.Statement(t, manifest).Predicate.Template
		if got.SHA256 != want {
			t.Errorf("bake build %s: the manifest records template digest %s, want %s (the files as loaded)", tc.path, got.SHA256, want)
		}
		if got.Path != tc.path {
			t.Errorf("bake build %s: template path %q", tc.path, got.Path)
		}
	}
}
