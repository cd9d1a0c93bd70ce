package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// liveBake is a real bake process whose stdout is read line by line as it
// comes, so that a test can act (send a signal) once a line appeared.
type liveBake struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer

	mu     sync.Mutex
	stdout strings.Builder
	want   string
	seen   chan struct{}
	done   chan struct{}
}

// startBake starts the bake binary with args and environ.
func startBake(t *testing.T, environ []string, args ...string) *liveBake {
	t.Helper()
	b := &liveBake{cmd: exec.Command(bakebin.Path(t), args...), done: make(chan struct{})}
	b.cmd.Env = environ
	b.cmd.Stderr = &b.stderr
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			b.cmd.Process.Kill()
			<-b.done
		}
	})
	go func() {
		defer close(b.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			b.mu.Lock()
			b.stdout.WriteString(sc.Text() + "\n")
			if b.seen != nil && strings.Contains(sc.Text(), b.want) {
				close(b.seen)
				b.seen = nil
			}
			b.mu.Unlock()
		}
		b.cmd.Wait()
	}()
	return b
}

// waitLine waits until a line of stdout contains s (failing the test after
// a generous limit: the machine is shared).
func (b *liveBake) waitLine(t *testing.T, s string) {
	t.Helper()
	seen := make(chan struct{})
	b.mu.Lock()
	if strings.Contains(b.stdout.String(), s) {
		b.mu.Unlock()
		return
	}
	b.want, b.seen = s, seen
	b.mu.Unlock()
	select {
	case <-seen:
	case <-b.done:
		t.Fatalf("bake exited before printing %q:\n%s\n%s", s, b.output(), b.stderr.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("bake never printed %q:\n%s\n%s", s, b.output(), b.stderr.String())
	}
}

// wait waits for bake to exit and returns its exit code.
func (b *liveBake) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(3 * time.Minute):
		b.cmd.Process.Kill()
		t.Fatalf("bake did not exit:\n%s\n%s", b.output(), b.stderr.String())
	}
	return b.cmd.ProcessState.ExitCode()
}

func (b *liveBake) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stdout.String()
}

// TestDockerE2ESecretsNeverEscape is issue 10's repro: two sensitive
// variables, a multi-line PEM key and a password with every quoting
// hazard, in environment_vars of a docker shell provisioner; the build is
// interrupted while it sleeps. Neither value may appear, in any encoding,
// on the terminal, in -json events, in -log-dir files or in the run
// manifest; a short sensitive value does not eat unrelated text; log
// files are the user's alone.
func TestDockerE2ESecretsNeverEscape(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	key, err := os.ReadFile("../../internal/redact/testdata/key.pem")
	if err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile("../../internal/redact/testdata/password.txt")
	if err != nil {
		t.Fatal(err)
	}
	pem, password := string(key), string(pw)
	dir := writeTemplate(t, fmt.Sprintf(`
variable "key" {
  type      = string
  sensitive = true
}
variable "password" {
  type      = string
  sensitive = true
}
variable "pin" {
  type      = string
  sensitive = true
}

source "docker" "s" {
  image  = %q
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.s"]
  provisioner "shell" {
    environment_vars = ["KEY=${var.key}", "PASSWORD=${var.password}", "PIN=${var.pin}"]
    inline = [
      "printf '%%s\n' \"$KEY\"",
      "echo \"pw: $PASSWORD\"",
      "printf %%s \"$PASSWORD\" | base64",
      "echo \"$PASSWORD\" | base64",
      "echo \"43 packages, pin $PIN\"",
      "echo provisioner-now-sleeping",
      "sleep 30",
    ]
  }
}
`, testenv.BaseImage()))
	environ := append(os.Environ(), "BAKE_VAR_key="+pem, "BAKE_VAR_password="+password, "BAKE_VAR_pin=3")

	// What must never be seen: each value as written, each line of the
	// key, and the encodings the issue found or a script makes.
	forbidden := map[string]string{
		"password":                    password,
		"password %q":                 strings.Trim(fmt.Sprintf("%q", password), `"`),
		"password shell-quoted":       strings.ReplaceAll(password, "'", `'\''`),
		"password shell-quoted in %q": strings.Trim(fmt.Sprintf("%q", strings.ReplaceAll(password, "'", `'\''`)), `"`),
		"password in JSON":            strings.Trim(string(must(json.Marshal(password))), `"`),
		// 15 bytes: the encoding of the value alone is also the start of
		// the encoding of the value and a newline.
		"password base64": base64.StdEncoding.EncodeToString(pw),
		"key %q":          strings.Trim(fmt.Sprintf("%q", strings.TrimSpace(pem)), `"`),
	}
	if len(password)%3 != 0 {
		t.Fatalf("the test password must be a multiple of 3 bytes long")
	}
	for i, l := range strings.Split(strings.TrimSpace(pem), "\n") {
		forbidden[fmt.Sprintf("key line %d", i+1)] = l
	}

	for _, mode := range []string{"-json", "-color=false"} {
		t.Run(mode, func(t *testing.T) {
			out := t.TempDir()
			logDir := filepath.Join(out, "logs")
			manifest := filepath.Join(out, "m.sigstore.json")
			b := startBake(t, environ, "build", mode, "-log-dir", logDir, "-manifest", manifest, dir)
			b.waitLine(t, "provisioner-now-sleeping")
			b.cmd.Process.Signal(syscall.SIGINT)
			code := b.wait(t)
			stdout := b.output()
			afterRun(t, cli, manifesttest.Statement(t, manifest).Predicate.Fingerprint)
			if code != exitInterrupted {
				t.Errorf("exit %d, want %d:\n%s\n%s", code, exitInterrupted, stdout, b.stderr.String())
			}

			texts := map[string]string{"stdout": stdout, "stderr": b.stderr.String()}
			if info, err := os.Stat(logDir); err != nil || info.Mode().Perm() != 0o700 {
				t.Errorf("log directory: %v, mode %v; want 0700", err, info.Mode().Perm())
			}
			logs, _ := filepath.Glob(filepath.Join(logDir, "*.log"))
			if len(logs) == 0 {
				t.Fatalf("no log files in %s", logDir)
			}
			for _, f := range logs {
				info, err := os.Stat(f)
				if err != nil || info.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, mode %v; want 0600", f, err, info.Mode().Perm())
				}
				texts[filepath.Base(f)] = readHostFile(t, f)
			}
			texts["manifest file"] = readHostFile(t, manifest)
			texts["manifest statement"] = string(manifesttest.Payload(t, manifest))
			builds := manifesttest.Builds(t, manifest)
			if len(builds) != 1 || builds[0].Status != "cancelled" || builds[0].Error == "" {
				t.Errorf("manifest builds: %+v", builds)
			}

			for where, text := range texts {
				for what, s := range forbidden {
					if strings.Contains(text, s) {
						t.Errorf("%s: %s escaped redaction", where, what)
					}
				}
			}
			all := stdout + texts["docker.s.log"]
			if !strings.Contains(all, "43 packages, pin <sensitive>") {
				t.Errorf("the short value's line is not \"43 packages, pin <sensitive>\":\n%s", all)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", stdout, b.stderr.String())
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
