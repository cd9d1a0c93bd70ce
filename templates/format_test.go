package templates

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormatIdempotent formats every fixture twice: the second pass must
// change nothing.
func TestFormatIdempotent(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../testdata/templates", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && IsFormattable(p) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("only %d fixtures found", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		once, diags := Format(src, f)
		if diags.HasErrors() {
			if strings.Contains(f, "syntax_error") {
				continue
			}
			t.Errorf("%s: %v", f, diags)
			continue
		}
		twice, _ := Format(once, f)
		if !bytes.Equal(once, twice) {
			t.Errorf("%s: formatting is not idempotent:\n%s\n---\n%s", f, once, twice)
		}
	}
}
