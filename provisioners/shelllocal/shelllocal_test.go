package shelllocal_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/testutil/proctest"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/script"
	"github.com/bake-tool/bake/provisioners/internal/testui"
	"github.com/bake-tool/bake/provisioners/shelllocal"
)

var info = provisioners.BuildInfo{RunID: "run-7", Name: "null.box", SourceName: "box", Type: "null"}

func prepare(t *testing.T, src string) *shelllocal.Config {
	t.Helper()
	var cfg shelllocal.Config
	configtest.MustPrepare(t, "shell-local", src, &cfg)
	return &cfg
}

func TestEnvironment(t *testing.T) {
	echo := `echo "$PACKER_BUILD_NAME|$PACKER_BUILDER_TYPE|$BAKE_BUILD_NAME|$BAKE_BUILD_TYPE|$BAKE_RUN_ID|$A|$B|$C"`
	scriptFile := filepath.Join(t.TempDir(), "s.sh")
	if err := os.WriteFile(scriptFile, []byte("#!/bin/sh\n"+echo+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	vars := "environment_vars = [\"A=two  spaces\", \"B=it's \\\"q\\\" $HOME\"]\nenv = { C = \"c\" }"
	want := `box|null|box|null|run-7|two  spaces|it's "q" $HOME|c`
	for name, src := range map[string]string{
		"inline":  fmt.Sprintf("inline = [%q]\n%s", echo, vars),
		"command": fmt.Sprintf("command = %q\n%s", echo, vars),
		"script":  fmt.Sprintf("script = %q\n%s", scriptFile, vars),
		"scripts": fmt.Sprintf("scripts = [%q, %q]\n%s", scriptFile, scriptFile, vars),
		"execute_command": fmt.Sprintf("inline = [%q]\n%s\nexecute_command = [\"/bin/sh\", \"-c\", \"env -i {{ .Vars }} /bin/sh {{.Script}}\"]",
			echo, vars),
	} {
		t.Run(name, func(t *testing.T) {
			ui := testui.New(t)
			if err := shelllocal.New(prepare(t, src)).Provision(t.Context(), ui, nil, info); err != nil {
				t.Fatal(err)
			}
			w := want
			if name == "scripts" {
				w = want + "\n" + want
			}
			if got := ui.Text("stdout"); got != w {
				t.Errorf("stdout\n%s\nwant\n%s", got, w)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct{ src, wantErr string }{
		{`inline = ["exit 4"]`, "inline commands: script exited with code 4"},
		{`command = "exit 4"`, "command: script exited with code 4"},
		{"inline = [\"exit 4\"]\nvalid_exit_codes = [4]", ""},
		{`inline = ["kill -9 $$"]`, "inline commands: script exited with code 137"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			err := shelllocal.New(prepare(t, tc.src)).Provision(t.Context(), testui.New(t), nil, info)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ee *script.ExitError
			if err == nil || err.Error() != tc.wantErr || !errors.As(err, &ee) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestOnlyOn(t *testing.T) {
	ui := testui.New(t)
	err := shelllocal.New(prepare(t, "inline = [\"exit 1\"]\nonly_on = [\"windows\"]")).Provision(t.Context(), ui, nil, info)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ui.Text("say"), "only_on") {
		t.Errorf("no skip message: %q", ui.Text("say"))
	}
}

func TestOutputStreamed(t *testing.T) {
	ui := testui.New(t)
	t0 := time.Now()
	err := shelllocal.New(prepare(t, `inline = ["echo first", "sleep 1", "echo second"]`)).Provision(t.Context(), ui, nil, info)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	first, ok := ui.Find("stdout", "first")
	if !ok {
		t.Fatal("no first line")
	}
	if d := first.At.Sub(t0); d > 700*time.Millisecond {
		t.Errorf("first line arrived %s after the start", d)
	}
	if d := end.Sub(first.At); d < 900*time.Millisecond {
		t.Errorf("first line arrived only %s before the end", d)
	}
}

// gone reports whether pid no longer runs (a zombie waiting for init to
// reap it counts as gone).
func gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	return strings.HasPrefix(strings.TrimSpace(s[strings.LastIndex(s, ")")+1:]), "Z")
}

func TestCancelKillsGrandchildren(t *testing.T) {
	for _, trap := range []bool{false, true} {
		t.Run(fmt.Sprintf("trap TERM %v", trap), func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			// The grandchild is a shell of its own; with trap it ignores
			// SIGTERM, so only the SIGKILL after the grace ends it.
			child := "sleep 300"
			if trap {
				child = `sh -c 'trap "" TERM; sleep 300; sleep 300'`
			}
			src := fmt.Sprintf(`command = "%s & echo $! > %s; wait"`, strings.ReplaceAll(child, `"`, `\"`), pidfile)
			p := shelllocal.New(prepare(t, src))
			p.KillGrace = 500 * time.Millisecond
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- p.Provision(ctx, testui.New(t), nil, info) }()

			var pid int
			for deadline := time.Now().Add(10 * time.Second); pid == 0; {
				if time.Now().After(deadline) {
					t.Fatal("no pid file")
				}
				b, _ := os.ReadFile(pidfile)
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
				time.Sleep(20 * time.Millisecond)
			}
			if gone(pid) {
				t.Fatalf("grandchild %d not running before the cancel", pid)
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Provision did not return after cancel")
			}
			if !gone(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("grandchild %d survived the cancel", pid)
			}
		})
	}
}

func TestBackgroundProcessDoesNotHang(t *testing.T) {
	// A command that leaves a daemon holding its output must not block
	// the build for longer than the grace.
	p := shelllocal.New(prepare(t, `inline = ["sleep 3 &", "echo started"]`))
	p.KillGrace = 300 * time.Millisecond
	t0 := time.Now()
	if err := p.Provision(t.Context(), testui.New(t), nil, info); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("took %s", el)
	}
}

func TestPostProcessor(t *testing.T) {
	in := &artifacts.Artifact{Builder: "null", ID: "img-1", Files: []string{"/out/a.img", "/out/b.img"}}
	pp := shelllocal.NewPost(prepare(t, `inline = ["echo \"$BAKE_ARTIFACT_ID $BAKE_ARTIFACT_BUILDER $PACKER_BUILD_NAME\"", "echo \"$BAKE_ARTIFACT_FILES\""]`), info)
	ui := testui.New(t)
	out, keep, err := pp.PostProcess(t.Context(), ui, in)
	if err != nil {
		t.Fatal(err)
	}
	if out != in || !keep {
		t.Errorf("got %v, keep %v; want the input, kept", out, keep)
	}
	if got, want := ui.Text("stdout"), "img-1 null box\n/out/a.img\n/out/b.img"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}

	pp = shelllocal.NewPost(prepare(t, `inline = ["exit 2"]`), info)
	if _, _, err := pp.PostProcess(t.Context(), testui.New(t), in); err == nil || !strings.Contains(err.Error(), "code 2") {
		t.Errorf("error %v", err)
	}
}

// TestManyInParallel runs inline scripts from many goroutines at once: a
// script written while another goroutine forks must not fail to execute
// with "text file busy" (it did with 50 parallel builds).
func TestManyInParallel(t *testing.T) {
	cfg := prepare(t, `inline = ["true"]`)
	errs := make(chan error, 64)
	for i := 0; i < cap(errs); i++ {
		go func() { errs <- shelllocal.New(cfg).Provision(t.Context(), testui.New(t), nil, info) }()
	}
	var failed []error
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d runs failed, first: %v", len(failed), cap(errs), failed[0])
	}
}

// TestSecretsOffCommandLines: while shell-local runs, no process of this
// host shows a variable's value in its command line (what `ps` shows to
// every user), with the default execute_command and a shell of one's
// own; the script sees the value all the same.
func TestSecretsOffCommandLines(t *testing.T) {
	const core = "hunter2-local-5b1c"
	secret := core + `'"\$x`
	for name, execute := range map[string]string{
		"default": "",
		"bash":    `execute_command = ["/bin/bash", "-c", "{{.Vars}} {{.Script}}; exit $?"]`,
	} {
		t.Run(name, func(t *testing.T) {
			src := `inline = ["echo \"started $SECRET\"", "sleep 600"]` + "\n" +
				`environment_vars = ["SECRET=` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(secret) + `"]` + "\n" + execute
			ui := testui.New(t)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- shelllocal.New(prepare(t, src)).Provision(ctx, ui, nil, info) }()
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
				if _, ok := ui.Find("stdout", "started "+secret); ok {
					break
				}
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("the script never printed the secret: %q", ui.Text("stdout"))
				}
			}
			if ps := proctest.WithArg(core); len(ps) != 0 {
				t.Errorf("the secret is on the command line of %v", ps)
			}
			cancel()
			if err := <-done; err == nil || strings.Contains(err.Error(), core) {
				t.Errorf("error %v", err)
			}
		})
	}
}

// TestRunIDMarksWhatItLeaves: a temporary script's name carries the run
// id, and the processes carry BAKE_RUN_ID even when a variable tries to
// change it, so that what a killed bake left can be told by its run id.
func TestRunIDMarksWhatItLeaves(t *testing.T) {
	ui := testui.New(t)
	src := "inline = [\"echo \\\"$0 $BAKE_RUN_ID\\\"\"]\nenvironment_vars = [\"BAKE_RUN_ID=not-the-run\"]"
	if err := shelllocal.New(prepare(t, src)).Provision(t.Context(), ui, nil, info); err != nil {
		t.Fatal(err)
	}
	script, runID, _ := strings.Cut(ui.Text("stdout"), " ")
	prefix := filepath.Join(os.TempDir(), "bake-shell-local-"+info.RunID+"-")
	if !strings.HasPrefix(script, prefix) || runID != info.RunID {
		t.Errorf("script %q, BAKE_RUN_ID %q; want a script named %s* and %s", script, runID, prefix, info.RunID)
	}
	if _, err := os.Stat(script); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the temporary script is still there: %v", err)
	}
}
