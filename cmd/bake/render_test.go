package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
)

func TestPrompterAsk(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want builder.Decision
	}{
		{"r\n", builder.DecideRetry},
		{"what\nabort\n", builder.DecideAbort},
		{"c\n", builder.DecideCleanup},
		{"", builder.DecideCleanup}, // end of input: the safe choice
	} {
		var out bytes.Buffer
		p := &prompter{in: strings.NewReader(tc.in), out: &out}
		got := p.ask(context.Background(), "docker.x", "commit container", errors.New("disk full"))
		if got != tc.want {
			t.Errorf("input %q: decision %v, want %v", tc.in, got, tc.want)
		}
		if !strings.Contains(out.String(), `docker.x: step "commit container" failed: disk full`) {
			t.Errorf("prompt does not say what failed: %q", out.String())
		}
	}
}

func TestPrompterPause(t *testing.T) {
	var out bytes.Buffer
	p := &prompter{in: strings.NewReader("\n"), out: &out}
	if err := p.pause(context.Background(), "null.a", "provision"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "paused after") {
		t.Fatalf("pause prompt %q", out.String())
	}
	// A cancelled run does not wait for Enter.
	pr, pw, _ := os.Pipe()
	defer pw.Close()
	defer pr.Close()
	p = &prompter{in: pr, out: &out}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.pause(ctx, "null.a", "provision"); err == nil {
		t.Fatal("pause ignored cancellation")
	}
}

func TestHumanRenderer(t *testing.T) {
	var buf bytes.Buffer
	h := newHumanRenderer(&buf, false, true, []string{"null.a"})
	h.event(engine.Event{Type: engine.EventStepStarted, Build: "null.a", Step: "provision"})
	h.event(engine.Event{Type: engine.EventOutput, Build: "null.a", Message: "hello"})
	h.event(engine.Event{Type: engine.EventStepFailed, Build: "null.a", Step: "provisioner shell", Error: "exit 3"})
	h.event(engine.Event{Type: engine.EventStepFailed, Build: "null.a", Step: "provision", Error: "provisioner shell: exit 3"})
	h.event(engine.Event{Type: engine.EventCleanup, Build: "null.a", Message: "cleaned up after boot"})
	h.event(engine.Event{Type: engine.EventCleanup, Build: "null.a", Message: "cleaned up after start", Status: "failed"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	ts := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ `)
	want := []string{
		"==> null.a: provision...",
		"    null.a: hello",
		"==> null.a: provisioner shell failed: exit 3",
		"==> null.a: provision failed",
		"==> null.a: cleaned up after start",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	for i, l := range lines {
		if !ts.MatchString(l) {
			t.Errorf("line %q has no -timestamp-ui prefix", l)
		}
		if got := ts.ReplaceAllString(l, ""); got != want[i] {
			t.Errorf("line %d: %q, want %q", i, got, want[i])
		}
	}
	if strings.Contains(buf.String(), "\x1b[") {
		t.Error("colour codes with colour off")
	}
	buf.Reset()
	newHumanRenderer(&buf, true, false, []string{"null.a"}).event(engine.Event{Type: engine.EventMessage, Build: "null.a", Message: "hi"})
	if !strings.Contains(buf.String(), "\x1b[32m==> null.a:\x1b[0m hi") {
		t.Errorf("coloured line %q", buf.String())
	}
}

func TestBuildColourOffWithoutTerminal(t *testing.T) {
	srcs, refs := nullSources("a")
	dir := writeTemplate(t, srcs+"build {\n  sources = "+refs+"\n  provisioner \"shell-local\" { inline = [\"echo hi\"] }\n}\n")
	// stdout is a buffer, not a terminal: no colour even though -color
	// defaults to true.
	code, stdout, stderr := bakeRun(t, os.Environ(), "build", "-manifest", filepath.Join(dir, "m.json"), dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "\x1b[") || !strings.Contains(stdout, "    null.a: hi") {
		t.Fatalf("output:\n%q", stdout)
	}
	// The output names the run id, which bake gc -run-id takes.
	runID := manifesttest.Statement(t, filepath.Join(dir, "m.json")).Predicate.Fingerprint
	if !strings.Contains(stdout, "==> run "+runID+": 1 build(s)") {
		t.Errorf("output does not name run %s:\n%s", runID, stdout)
	}
}

// TestPrompterAskRedacts: the -on-error=ask prompt shows the failed step's
// error, which may carry a sensitive value in any encoding; the prompt
// shows none of them.
func TestPrompterAskRedacts(t *testing.T) {
	const password = `it's "s3cr3t"\now`
	quoted := "'" + strings.ReplaceAll(password, "'", `'\''`) + "'"
	err := fmt.Errorf("run %q: exit status 1", "PW="+quoted+" /tmp/script.sh")
	var out bytes.Buffer
	p := &prompter{in: strings.NewReader("c\n"), out: &out, redact: redact.New([]string{password})}
	p.ask(context.Background(), "docker.x", "provisioner shell", err)
	for _, leak := range []string{password, "s3cr3t", quoted} {
		if strings.Contains(out.String(), leak) {
			t.Errorf("prompt shows %q: %s", leak, out.String())
		}
	}
	if !strings.Contains(out.String(), `docker.x: step "provisioner shell" failed: run "PW='<sensitive>' /tmp/script.sh"`) {
		t.Errorf("prompt does not say what failed: %q", out.String())
	}
}

// TestLogDirPrivate: -log-dir creates its directory 0700 and its files
// 0600, and tightens a log file an earlier run left readable.
func TestLogDirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs", "nested")
	old := filepath.Join(dir, "null.b.log")
	ld, err := newLogDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"null.a", "null.b"} {
		ld.event(engine.Event{Type: engine.EventOutput, Build: b, Message: "hello"})
	}
	ld.event(engine.Event{Type: engine.EventRunStarted, Message: "run x"})
	if err := ld.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("log directory mode %v (%v), want 0700", info.Mode().Perm(), err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(files) != 3 {
		t.Fatalf("log files %v, want null.a, null.b and run", files)
	}
	for _, f := range files {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", f, info.Mode().Perm(), err)
		}
	}
}
