package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGCFlags drives `bake gc` over a journal that says a run crashed an
// hour ago and left a directory: the default -older-than (24h) keeps it,
// -run-id takes it, an explicit -older-than wins over -run-id's default,
// and -dry-run lists it and removes nothing.
func TestGCFlags(t *testing.T) {
	state := t.TempDir()
	runs := filepath.Join(state, "runs")
	left := filepath.Join(t.TempDir(), "output-x")
	if err := os.MkdirAll(filepath.Join(left, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(runs, 0o700); err != nil {
		t.Fatal(err)
	}
	run := "5f0e4c1a-0000-4000-8000-00000000abcd"
	hourAgo := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	journal := filepath.Join(runs, run+".jsonl")
	lines := fmt.Sprintf(`{"op":"begin","time":%q,"pid":999999999}
{"op":"add","time":%q,"pid":999999999,"place":{"kind":"qemu output directory","path":%q,"build":"qemu.x","time":%q}}
`, hourAgo, hourAgo, left, hourAgo)
	if err := os.WriteFile(journal, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := []string{"BAKE_STATE_DIR=" + state, "HOME=" + t.TempDir()}
	exists := func() bool {
		_, err := os.Stat(left)
		return err == nil
	}
	line := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, left) {
				return l
			}
		}
		return ""
	}

	steps := []struct {
		args       []string
		wantStatus string // the listing's first column for the directory
		wantNote   string
		remains    bool
	}{
		{[]string{"-dry-run"}, "kept", "younger than 24h0m0s", true},
		{[]string{"-dry-run", "-run-id", run}, "would remove", "", true},
		{[]string{"-run-id", run, "-older-than", "2h"}, "kept", "younger than 2h0m0s", true},
		{[]string{"-run-id", run}, "removed", "", false},
	}
	for _, s := range steps {
		code, out, errOut := bakeRun(t, environ, append([]string{"gc"}, s.args...)...)
		if code != exitOK {
			t.Fatalf("gc %v: exit %d\n%s%s", s.args, code, out, errOut)
		}
		l := line(out)
		if !strings.HasPrefix(l, s.wantStatus+" ") || !strings.Contains(l, s.wantNote) || !strings.Contains(l, run) || !strings.Contains(l, "1h0m") {
			t.Errorf("gc %v: line %q, want status %q, note %q, the run and its age\n%s", s.args, l, s.wantStatus, s.wantNote, out)
		}
		if exists() != s.remains {
			t.Errorf("gc %v: directory exists = %v, want %v", s.args, exists(), s.remains)
		}
	}
	if _, err := os.Stat(journal); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal after the run was swept: %v", err)
	}
	code, out, _ := bakeRun(t, environ, "gc", "-run-id", run)
	if code != exitOK || !strings.Contains(out, "nothing left behind") {
		t.Errorf("second gc: exit %d\n%s", code, out)
	}

	for _, args := range [][]string{{"gc", "-older-than", "-1s"}, {"gc", "extra"}, {"gc", "-nope"}} {
		if code, _, _ := bakeRun(t, environ, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
