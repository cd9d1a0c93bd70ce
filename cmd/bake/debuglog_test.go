package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
)

// TestDebugLogFromEnvironment: PACKER_LOG=1 with PACKER_LOG_PATH writes
// the engine's debug log to that file, readable by its owner only (an
// existing file's mode is tightened), with sensitive values redacted;
// BAKE_LOG=1 alone writes it to stderr; without either there is none.
func TestDebugLogFromEnvironment(t *testing.T) {
	dir := writeTemplate(t, `
variable "token" {
  type      = string
  default   = "debug-log-s3cret"
  sensitive = true
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
  provisioner "shell-local" {
    inline = ["echo token is ${var.token}"]
  }
}
`)
	logPath := filepath.Join(t.TempDir(), "packer.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(env ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bakebin.Path(t), "build", "-color=false", "-manifest", "", dir)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("bake build: %v\n%s", err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}

	_, stderr := run("PACKER_LOG=1", "PACKER_LOG_PATH="+logPath)
	if strings.Contains(stderr, "level=DEBUG") {
		t.Errorf("with PACKER_LOG_PATH the debug log went to stderr too:\n%s", stderr)
	}
	fi, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("debug log mode %o, want 600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(logPath)
	log := string(data)
	for _, want := range []string{"level=DEBUG", `msg="bake starting"`, "type=step_started build=null.a", "token is <sensitive>"} {
		if !strings.Contains(log, want) {
			t.Errorf("debug log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "debug-log-s3cret") {
		t.Errorf("the sensitive value reached the debug log:\n%s", log)
	}

	_, stderr = run("BAKE_LOG=1", "PACKER_LOG=", "PACKER_LOG_PATH=", "BAKE_LOG_PATH=")
	if !strings.Contains(stderr, "type=build_finished build=null.a status=succeeded") {
		t.Errorf("BAKE_LOG=1 wrote no debug log to stderr:\n%s", stderr)
	}
	if strings.Contains(stderr, "debug-log-s3cret") {
		t.Errorf("the sensitive value reached stderr:\n%s", stderr)
	}

	_, stderr = run("BAKE_LOG=", "PACKER_LOG=0", "PACKER_LOG_PATH=", "BAKE_LOG_PATH=")
	if strings.Contains(stderr, "level=DEBUG") {
		t.Errorf("a debug log without PACKER_LOG or BAKE_LOG:\n%s", stderr)
	}
}
