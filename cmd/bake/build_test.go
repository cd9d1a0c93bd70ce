package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
)

// writeTemplate writes src as template.pkr.hcl in a new directory and
// returns the directory.
func writeTemplate(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "template.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// nullSources returns n null sources named s0..s(n-1) and the build's
// sources list for them.
func nullSources(names ...string) (string, string) {
	var b strings.Builder
	var refs []string
	for _, n := range names {
		fmt.Fprintf(&b, "source \"null\" %q {\n  communicator = \"none\"\n}\n\n", n)
		refs = append(refs, fmt.Sprintf("%q", "source.null."+n))
	}
	return b.String(), "[" + strings.Join(refs, ", ") + "]"
}

// buildJSON runs `bake build -json` in dir and returns the exit code, the
// events and stderr.
func buildJSON(t *testing.T, dir string, args ...string) (int, []engine.Event, string) {
	t.Helper()
	args = append([]string{"build", "-json", "-manifest", filepath.Join(dir, "m.sigstore.json")}, args...)
	args = append(args, dir)
	code, stdout, stderr := bakeRun(t, os.Environ(), args...)
	return code, parseEvents(t, stdout), stderr
}

func parseEvents(t *testing.T, stdout string) []engine.Event {
	t.Helper()
	var evs []engine.Event
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e engine.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout line is not a JSON event: %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

type span struct{ start, end time.Time }

func spans(t *testing.T, evs []engine.Event) map[string]span {
	t.Helper()
	m := map[string]span{}
	for _, e := range evs {
		s := m[e.Build]
		switch e.Type {
		case engine.EventBuildStarted:
			s.start = e.Time
		case engine.EventBuildFinished:
			s.end = e.Time
		default:
			continue
		}
		m[e.Build] = s
	}
	return m
}

func finished(evs []engine.Event) map[string]string {
	m := map[string]string{}
	for _, e := range evs {
		if e.Type == engine.EventBuildFinished {
			m[e.Build] = e.Status
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

const sleepBuild = `
build {
  sources = %s
  provisioner "shell-local" {
    inline = ["sleep 0.6", "echo done in $PACKER_BUILD_NAME"]
  }
}
`

func TestBuildRunsInParallel(t *testing.T) {
	srcs, refs := nullSources("a", "b", "c")
	dir := writeTemplate(t, srcs+fmt.Sprintf(sleepBuild, refs))
	code, evs, stderr := buildJSON(t, dir)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	sp := spans(t, evs)
	if len(sp) != 3 {
		t.Fatalf("want 3 builds, got %v", sortedKeys(sp))
	}
	for a, x := range sp {
		for b, y := range sp {
			if a != b && !(x.start.Before(y.end) && y.start.Before(x.end)) {
				t.Fatalf("%s %v and %s %v did not overlap", a, x, b, y)
			}
		}
	}
	var outputs []string
	for _, e := range evs {
		if e.Type == engine.EventOutput {
			outputs = append(outputs, e.Build+": "+e.Message)
		}
	}
	sort.Strings(outputs)
	if want := "null.a: done in a|null.b: done in b|null.c: done in c"; strings.Join(outputs, "|") != want {
		t.Fatalf("output %q, want %q", outputs, want)
	}
}

func TestBuildParallelBuildsOneSerialises(t *testing.T) {
	srcs, refs := nullSources("a", "b", "c")
	dir := writeTemplate(t, srcs+fmt.Sprintf(sleepBuild, refs))
	code, evs, stderr := buildJSON(t, dir, "-parallel-builds=1")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	sp := spans(t, evs)
	for a, x := range sp {
		for b, y := range sp {
			if a != b && x.start.Before(y.end) && y.start.Before(x.end) {
				t.Fatalf("%s and %s overlapped with -parallel-builds=1", a, b)
			}
		}
	}
}

func TestBuildFailureLeavesOthersAndExitsOne(t *testing.T) {
	srcs, refs := nullSources("ok1", "bad", "ok2")
	dir := writeTemplate(t, srcs+fmt.Sprintf(`
build {
  sources = %s
  provisioner "shell-local" {
    only   = ["null.bad"]
    inline = ["echo about to fail", "exit 3"]
  }
  provisioner "shell-local" {
    inline = ["sleep 0.3", "echo still here"]
  }
}
`, refs))
	code, evs, _ := buildJSON(t, dir)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	st := finished(evs)
	if st["null.ok1"] != "succeeded" || st["null.ok2"] != "succeeded" || st["null.bad"] != "failed" {
		t.Fatalf("statuses %v", st)
	}
	for _, e := range evs {
		if e.Type == engine.EventBuildFinished && e.Build == "null.bad" && !strings.Contains(e.Error, "3") {
			t.Fatalf("failure does not give the exit code: %q", e.Error)
		}
	}
	// The run manifest lists the failed build with its error.
	data, err := os.ReadFile(filepath.Join(dir, "m.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "dsseEnvelope") {
		t.Fatalf("manifest: %s", data)
	}
}

func TestBuildOnlyExcept(t *testing.T) {
	srcs, refs := nullSources("web", "db", "cache")
	dir := writeTemplate(t, srcs+fmt.Sprintf(`
build {
  sources = %s
  provisioner "shell-local" { inline = ["true"] }
}
`, refs))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-only", "null.web"}, "null.web"},
		{[]string{"-only", "null.web,null.db"}, "null.db null.web"},
		{[]string{"-except", "null.c*"}, "null.db null.web"},
		{[]string{"-only", "null.*", "-except", "null.db"}, "null.cache null.web"},
	} {
		code, evs, stderr := buildJSON(t, dir, tc.args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		if got := strings.Join(sortedKeys(finished(evs)), " "); got != tc.want {
			t.Errorf("%v ran %q, want %q", tc.args, got, tc.want)
		}
	}
	code, evs, stderr := buildJSON(t, dir, "-only", "docker.*")
	if code != exitUsage || len(finished(evs)) != 0 {
		t.Fatalf("unmatched -only: exit %d, ran %v", code, finished(evs))
	}
	for _, n := range []string{"docker.*", "null.web", "null.db", "null.cache"} {
		if !strings.Contains(stderr, n) {
			t.Errorf("unmatched -only error does not name %q:\n%s", n, stderr)
		}
	}
}

func TestBuildUsageErrors(t *testing.T) {
	srcs, refs := nullSources("a")
	dir := writeTemplate(t, srcs+fmt.Sprintf("build {\n  sources = %s\n}\n", refs))
	for _, args := range [][]string{
		{"build"},
		{"build", "-on-error=explode", dir},
		{"build", "-parallel-builds=-1", dir},
		{"build", "-no-such-flag", dir},
		{"build", filepath.Join(dir, "missing.pkr.hcl")},
	} {
		code, _, stderr := bakeRun(t, os.Environ(), args...)
		if code != exitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestBuildProvisionerMetaArguments(t *testing.T) {
	srcs, refs := nullSources("a", "b")
	marker := filepath.Join(t.TempDir(), "cleanup-ran")
	counter := filepath.Join(t.TempDir(), "attempts")
	dir := writeTemplate(t, srcs+fmt.Sprintf(`
build {
  sources = %s

  provisioner "shell-local" {
    inline = ["echo default $X"]
    environment_vars = ["X=plain"]
    override = {
      "null.b" = { environment_vars = ["X=overridden"] }
    }
  }

  provisioner "shell-local" {
    max_retries = 2
    inline = ["echo x >> %s-${source.name}", "test $(wc -l < %s-${source.name}) -ge 3"]
  }

  provisioner "shell-local" {
    only         = ["null.b"]
    pause_before = "200ms"
    timeout      = "500ms"
    inline       = ["sleep 30"]
  }

  error-cleanup-provisioner "shell-local" {
    inline = ["touch %s-${source.name}"]
  }
}
`, refs, counter, counter, marker))
	t0 := time.Now()
	code, evs, stderr := buildJSON(t, dir)
	if el := time.Since(t0); el > 20*time.Second {
		t.Fatalf("timeout did not stop the sleep: %s", el)
	}
	if code != exitFailed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	st := finished(evs)
	if st["null.a"] != "succeeded" || st["null.b"] != "failed" {
		t.Fatalf("statuses %v", st)
	}
	out := map[string][]string{}
	for _, e := range evs {
		if e.Type == engine.EventOutput {
			out[e.Build] = append(out[e.Build], e.Message)
		}
		if e.Type == engine.EventBuildFinished && e.Build == "null.b" && !strings.Contains(e.Error, "timed out after 500ms") {
			t.Errorf("null.b error %q does not say it timed out", e.Error)
		}
	}
	if out["null.a"][0] != "default plain" || out["null.b"][0] != "default overridden" {
		t.Fatalf("override: %v", out)
	}
	for _, n := range []string{"a", "b"} {
		data, _ := os.ReadFile(counter + "-" + n)
		if got := strings.Count(string(data), "x"); got != 3 {
			t.Errorf("%s: max_retries=2 ran %d attempts, want 3", n, got)
		}
	}
	if _, err := os.Stat(marker + "-b"); err != nil {
		t.Errorf("error-cleanup-provisioner did not run for the failed build: %v", err)
	}
	if _, err := os.Stat(marker + "-a"); err == nil {
		t.Errorf("error-cleanup-provisioner ran for a build that succeeded")
	}
}

func TestBuildRedactsSensitiveValues(t *testing.T) {
	const secret = "s3cr3t-p@ss-4242"
	srcs, refs := nullSources("a")
	logDir := t.TempDir()
	dir := writeTemplate(t, `
variable "password" {
  type      = string
  sensitive = true
}
`+srcs+fmt.Sprintf(`
build {
  sources = %s
  provisioner "shell-local" {
    environment_vars = ["PW=${var.password}"]
    inline = ["echo the password is $PW", "echo $PW >&2", "exit 7"]
  }
}
`, refs))
	for _, mode := range []string{"-json", "-color=false"} {
		args := []string{"build", mode, "-log-dir", logDir, "-var", "password=" + secret,
			"-manifest", filepath.Join(dir, "m.json"), dir}
		code, stdout, stderr := bakeRun(t, os.Environ(), args...)
		if code != exitFailed {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "the password is <sensitive>") {
			t.Errorf("%s: output not shown redacted:\n%s", mode, stdout)
		}
		for what, text := range map[string]string{"stdout": stdout, "stderr": stderr} {
			if strings.Contains(text, secret) {
				t.Errorf("%s: secret in %s:\n%s", mode, what, text)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(logDir, "*"))
	if len(files) == 0 {
		t.Fatal("no log files written")
	}
	for _, f := range append(files, filepath.Join(dir, "m.json")) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), secret) {
			t.Errorf("secret in %s", f)
		}
	}
}

func TestBuildInterruptCleansUpAndExits130(t *testing.T) {
	bin := bakebin.Path(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	srcs, refs := nullSources("long", "short")
	dir := writeTemplate(t, srcs+fmt.Sprintf(`
build {
  sources = %s
  provisioner "shell-local" {
    only   = ["null.long"]
    inline = ["sleep 300 & echo $! > %s", "echo started", "wait"]
  }
}
`, refs, pidFile))
	cmd := exec.Command(bin, "build", "-color=false", "-manifest", filepath.Join(dir, "m.json"), dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(pidFile); err == nil && len(strings.TrimSpace(string(data))) > 0 {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pid == 0 {
		cmd.Process.Kill()
		t.Fatalf("the provisioner never started:\n%s", out.String())
	}
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("bake did not exit after SIGINT:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d, want %d:\n%s", code, exitInterrupted, out.String())
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the provisioner's child %d survived SIGINT", pid)
	}
	text := out.String()
	for _, want := range []string{"SIGINT received", "null.long: cancelled: stopped running commands and ran", "null.long: build cancelled", "null.short: build finished"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "m.json")); err != nil {
		t.Errorf("no run manifest after an interrupt: %v", err)
	}
}

// alive reports whether pid is a running process (a zombie waiting for a
// reaper is not).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
