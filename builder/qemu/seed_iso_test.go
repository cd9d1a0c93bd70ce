package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeISORetriesACrash: a CD tool that crashes (here a script that
// kills itself with SIGSEGV on its first two runs, as xorriso once did in
// CI) is run again; one that fails cleanly is not.
func TestMakeISORetriesACrash(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "runs")
	tool := filepath.Join(dir, "fakeiso")
	script := `#!/bin/sh
echo x >> "` + count + `"
n=$(wc -l < "` + count + `")
case "$MODE" in
crash) [ "$n" -le 2 ] && kill -s SEGV $$ ;;
fail) echo "bad option" >&2; exit 2 ;;
esac
while [ $# -gt 0 ]; do [ "$1" = -o ] && : > "$2"; shift; done
`
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	saved := isoTools
	isoTools = [][]string{{tool}}
	t.Cleanup(func() { isoTools = saved })
	out := filepath.Join(dir, "seed.iso")

	t.Setenv("MODE", "crash")
	if err := makeISO(context.Background(), out, "cidata", dir); err != nil {
		t.Fatalf("a tool that crashed twice, then worked: %v", err)
	}
	if b, _ := os.ReadFile(count); strings.Count(string(b), "x") != 3 {
		t.Errorf("runs: %q, want 3", b)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}

	os.Remove(count)
	t.Setenv("MODE", "fail")
	err := makeISO(context.Background(), out, "cidata", dir)
	if err == nil || !strings.Contains(err.Error(), "bad option") {
		t.Fatalf("a tool that fails cleanly: err = %v", err)
	}
	if b, _ := os.ReadFile(count); strings.Count(string(b), "x") != 1 {
		t.Errorf("a clean failure ran %d times, want 1", strings.Count(string(b), "x"))
	}
}
