package templates

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestDigest loads one template directory, and one file of it, by every
// spelling of its path and checks that the Plan's Digest is the one a
// user computes with sha256sum in the directory, whatever the spelling,
// and that editing a file after Load does not change it.
func TestDigest(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "d1")
	files := map[string]string{
		"a.pkr.hcl":            "source \"box\" \"x\" {\n  image = \"debian\"\n}\n",
		"b.pkr.json":           `{"build": {"sources": ["source.box.x"]}}`,
		"x.auto.pkrvars.hcl":   "# not a template file\n",
		"notes.txt":            "not read\n",
		"sub/nested.pkr.hcl":   "not read either\n",
		"c.pkr.hcl.disabled":   "nor this\n",
		"variables.bake.hcl":   "variable \"v\" {\n  default = 1\n}\n",
		"ignored.pkrvars.json": "{}",
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }
	// What `sha256sum $(ls *.pkr.hcl *.pkr.json *.bake.hcl | sort) | sha256sum` prints in d1.
	wantDir := sum(sum(files["a.pkr.hcl"]) + "  a.pkr.hcl\n" +
		sum(files["b.pkr.json"]) + "  b.pkr.json\n" +
		sum(files["variables.bake.hcl"]) + "  variables.bake.hcl\n")
	wantFile := sum(files["a.pkr.hcl"])

	load := func(path string) string {
		t.Helper()
		plan, diags := Load(path, LoadOptions{Kinds: testKinds()})
		if diags.HasErrors() {
			t.Fatalf("load %s: %s", path, diags)
		}
		return plan.Digest
	}
	t.Chdir(parent)
	for _, tc := range []struct{ path, want string }{
		{"d1", wantDir}, {"d1/", wantDir}, {"./d1/../d1", wantDir}, {dir, wantDir},
		{"d1/a.pkr.hcl", wantFile}, {filepath.Join(dir, "a.pkr.hcl"), wantFile},
	} {
		if got := load(tc.path); got != tc.want {
			t.Errorf("digest of %q = %s, want %s", tc.path, got, tc.want)
		}
	}
	t.Chdir(dir)
	for _, tc := range []struct{ path, want string }{{".", wantDir}, {"a.pkr.hcl", wantFile}} {
		if got := load(tc.path); got != tc.want {
			t.Errorf("digest of %q from d1 = %s, want %s", tc.path, got, tc.want)
		}
	}

	// An edit after Load does not reach the digest Load recorded.
	plan, _ := Load(".", LoadOptions{Kinds: testKinds()})
	if err := os.WriteFile("a.pkr.hcl", []byte(files["a.pkr.hcl"]+"# edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if plan.Digest != wantDir {
		t.Errorf("digest after an edit = %s, want %s", plan.Digest, wantDir)
	}
}
