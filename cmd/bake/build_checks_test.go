package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
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

// TestBuildUnderNohupIgnoresSIGHUP: SIGHUP interrupts a build, unless bake
// was started with it ignored (nohup), which stays so. A SIGHUP and then
// a SIGINT reach the nohup'd bake: the SIGINT is the first interrupt it
// sees (the runtime hands on pending signals in number order, so a SIGHUP
// bake caught would come first).
func TestBuildUnderNohupIgnoresSIGHUP(t *testing.T) {
	bin := bakebin.Path(t)
	started := filepath.Join(t.TempDir(), "started")
	srcs, refs := nullSources("long")
	dir := writeTemplate(t, srcs+fmt.Sprintf(`
build {
  sources = %s
  provisioner "shell-local" {
    inline = ["touch %s", "sleep 300"]
  }
}
`, refs, started))
	cmd := exec.Command("nohup", bin, "build", "-color=false", "-manifest", filepath.Join(dir, "m.json"), dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the provisioner never started:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("bake did not exit after SIGINT:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d (%s), want %d:\n%s", code, cmd.ProcessState, exitInterrupted, out.String())
	}
	if text := out.String(); !strings.Contains(text, "SIGINT received") || strings.Contains(text, "SIGHUP received") || strings.Contains(text, "(SIGHUP)") {
		t.Errorf("a nohup'd bake acted on SIGHUP:\n%s", text)
	}
}
