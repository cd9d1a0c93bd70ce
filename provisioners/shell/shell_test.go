package shell_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/localcomm"
	"github.com/bake-tool/bake/provisioners/internal/script"
	"github.com/bake-tool/bake/provisioners/internal/testui"
	"github.com/bake-tool/bake/provisioners/shell"
)

var info = provisioners.BuildInfo{RunID: "run1", Name: "null.vm", SourceName: "vm", Type: "null"}

// setup prepares the block src (with remote_folder inside the machine's
// root added unless src sets remote_*) and returns the provisioner and a
// communicator on a fresh root.
func setup(t *testing.T, src string) (*shell.Provisioner, *localcomm.Comm, *testui.UI) {
	t.Helper()
	root := t.TempDir()
	if !strings.Contains(src, "remote_") {
		src += fmt.Sprintf("\nremote_folder = %q", root)
	}
	var cfg shell.Config
	configtest.MustPrepare(t, "shell", src, &cfg)
	return shell.New(&cfg), localcomm.New(root), testui.New(t)
}

// writeScript writes a local script file and returns its path.
func writeScript(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInlineScriptsAndEnvironment(t *testing.T) {
	s1 := writeScript(t, "one.sh", "#!/bin/sh\r\necho \"one:$GREETING\"\r\n")
	s2 := writeScript(t, "two.sh", "#!/bin/sh\necho \"two:$QUOTED\"\necho \"build:$PACKER_BUILD_NAME/$PACKER_BUILDER_TYPE\"\n")
	env := `environment_vars = ["GREETING=hello  world", "QUOTED=it's \"quoted\" $HOME"]
env = { FROM_MAP = "a b" }`
	tests := []struct {
		name, src, want string
	}{
		{"inline", `inline = ["echo \"$GREETING|$QUOTED|$FROM_MAP\"", "echo second"]` + "\n" + env,
			"hello  world|it's \"quoted\" $HOME|a b\nsecond"},
		{"script", fmt.Sprintf("script = %q\n%s", s1, env), "one:hello  world"},
		{"scripts", fmt.Sprintf("scripts = [%q, %q]\n%s", s1, s2, env),
			"one:hello  world\ntwo:it's \"quoted\" $HOME\nbuild:vm/null"},
		{"env file", `inline = ["echo \"$GREETING|$QUOTED\""]` + "\nuse_env_var_file = true\n" + env,
			"hello  world|it's \"quoted\" $HOME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, comm, ui := setup(t, tc.src)
			if err := p.Provision(t.Context(), ui, comm, info); err != nil {
				t.Fatal(err)
			}
			if got := ui.Text("stdout"); got != tc.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, tc.want)
			}
			// Everything uploaded was removed again.
			left, _ := os.ReadDir(comm.Root)
			if len(left) != 0 {
				t.Errorf("left on the machine: %v", left)
			}
		})
	}
}

func TestEnvironmentOnCommandLine(t *testing.T) {
	root := t.TempDir()
	var cfg shell.Config
	configtest.MustPrepare(t, "shell", fmt.Sprintf(`inline = ["true"]
environment_vars = ["B=2", "A=it's"]
env = { C = "3" }
remote_path = %q
execute_command = "echo {{ .Vars }}@{{.Path}}"`, root+"/x.sh"), &cfg)
	comm, ui := localcomm.New(root), testui.New(t)
	if err := shell.New(&cfg).Provision(t.Context(), ui, comm, provisioners.BuildInfo{}); err != nil {
		t.Fatal(err)
	}
	// Sorted, single-quoted, a quote escaped; the build's variables too.
	want := `echo A='it'"'"'s' B='2' BAKE_BUILD_NAME='' BAKE_BUILD_TYPE='' C='3' PACKER_BUILDER_TYPE='' PACKER_BUILD_NAME='' @` + root + "/x.sh"
	// The execute_command is one line of the command that writes, runs
	// and removes the script in one round trip.
	if cmds := comm.Commands(); !slices.Contains(strings.Split(cmds[0], "\n"), want) {
		t.Errorf("command:\n%s\nwant a line:\n%s", cmds[0], want)
	}
	if got := ui.Text("stdout"); !strings.HasPrefix(got, "A=it's B=2 ") {
		t.Errorf("stdout %q", got)
	}
}

func TestExecuteCommand(t *testing.T) {
	tests := []struct{ name, execute, want string }{
		{"default", "", "hello"},
		{"spaces", `sh -c '{{ .Vars }} sh {{ .Path }}'`, "hello"},
		{"sudo style", `chmod +x {{.Path}}; env {{.Vars}} {{.Path}} extra-arg`, "hello"},
		{"custom format", "", "hello"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "inline = [\"echo $WHO\"]\nenvironment_vars = [\"WHO=hello\"]"
			if tc.execute != "" {
				src += fmt.Sprintf("\nexecute_command = %q", tc.execute)
			}
			if tc.name == "custom format" {
				src += "\nenv_var_format = \"export %s='%s'; \"\nexecute_command = \"{{.Vars}} sh {{.Path}}\""
			}
			p, comm, ui := setup(t, src)
			if err := p.Provision(t.Context(), ui, comm, info); err != nil {
				t.Fatal(err)
			}
			if got := ui.Text("stdout"); got != tc.want {
				t.Errorf("stdout %q, want %q", got, tc.want)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	bad := writeScript(t, "bad.sh", "#!/bin/sh\necho failing\nexit 3\n")
	tests := []struct {
		name, src, wantErr string
	}{
		{"inline fails", `inline = ["exit 3"]`, "inline commands: script exited with code 3"},
		{"script fails", fmt.Sprintf("script = %q", bad), bad + ": script exited with code 3"},
		{"shebang -e stops at the first failure", `inline = ["false", "echo not reached"]`, "inline commands: script exited with code 1"},
		{"3 is valid", `inline = ["exit 3"]` + "\nvalid_exit_codes = [0, 3]", ""},
		{"0 not valid", `inline = ["true"]` + "\nvalid_exit_codes = [2]", "inline commands: script exited with code 0 (valid_exit_codes: [2])"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, comm, ui := setup(t, tc.src)
			err := p.Provision(t.Context(), ui, comm, info)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			var ee *script.ExitError
			if !errors.As(err, &ee) {
				t.Errorf("error %T is not an *ExitError", err)
			}
			if strings.Contains(ui.Text("stdout"), "not reached") {
				t.Error("the script went on after a failing command")
			}
		})
	}
}

func TestExpectDisconnect(t *testing.T) {
	for _, expect := range []bool{true, false} {
		t.Run(fmt.Sprint(expect), func(t *testing.T) {
			p, comm, ui := setup(t, fmt.Sprintf("inline = [\"echo rebooting\"]\nexpect_disconnect = %v", expect))
			comm.DisconnectOn = "chmod 0755"
			err := p.Provision(t.Context(), ui, comm, info)
			if expect {
				if err != nil {
					t.Fatalf("expect_disconnect = true: %v", err)
				}
				return
			}
			if !errors.Is(err, provisioners.ErrDisconnected) {
				t.Fatalf("error %v, want ErrDisconnected", err)
			}
			if !strings.Contains(err.Error(), "expect_disconnect") {
				t.Errorf("error %q does not mention expect_disconnect", err)
			}
			// The script ran once: a lost connection is not retried.
			if n := len(comm.Commands()); n != 1 {
				t.Errorf("%d commands run, want 1: %q", n, comm.Commands())
			}
		})
	}
}

func TestStartRetryTimeout(t *testing.T) {
	t.Run("retries until the machine answers", func(t *testing.T) {
		p, comm, ui := setup(t, "inline = [\"echo up\"]\nstart_retry_timeout = \"10s\"")
		comm.FailRuns = 2
		if err := p.Provision(t.Context(), ui, comm, info); err != nil {
			t.Fatal(err)
		}
		if got := ui.Text("stdout"); got != "up" {
			t.Errorf("stdout %q", got)
		}
		if n := len(comm.Commands()); n != 3 { // 2 failures, then the script (written, run, removed)
			t.Errorf("%d Run calls, want 3", n)
		}
	})
	t.Run("gives up after the timeout", func(t *testing.T) {
		p, comm, ui := setup(t, "inline = [\"echo up\"]\nstart_retry_timeout = \"1s\"")
		comm.FailRuns = 1000
		t0 := time.Now()
		err := p.Provision(t.Context(), ui, comm, info)
		if err == nil || !strings.Contains(err.Error(), "start_retry_timeout") {
			t.Fatalf("error %v", err)
		}
		if el := time.Since(t0); el > 3*time.Second {
			t.Errorf("gave up after %s", el)
		}
	})
}

func TestSkipClean(t *testing.T) {
	for _, skip := range []bool{true, false} {
		t.Run(fmt.Sprint(skip), func(t *testing.T) {
			root := t.TempDir()
			var cfg shell.Config
			configtest.MustPrepare(t, "shell", fmt.Sprintf("inline = [\"true\"]\nremote_folder = %q\nremote_file = \"kept.sh\"\nskip_clean = %v", root, skip), &cfg)
			if err := shell.New(&cfg).Provision(t.Context(), testui.New(t), localcomm.New(root), info); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(filepath.Join(root, "kept.sh"))
			if skip && err != nil {
				t.Errorf("skip_clean = true removed the script: %v", err)
			}
			if !skip && err == nil {
				t.Error("skip_clean = false left the script")
			}
		})
	}
}

func TestRemotePathAndMode(t *testing.T) {
	root := t.TempDir()
	remote := filepath.Join(root, "opt/run/me.sh")
	var cfg shell.Config
	configtest.MustPrepare(t, "shell", fmt.Sprintf("inline = [\"true\"]\nremote_path = %q\nskip_clean = true", remote), &cfg)
	if err := shell.New(&cfg).Provision(t.Context(), testui.New(t), localcomm.New(root), info); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(remote)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(remote); string(b) != "#!/bin/sh -e\ntrue\n" {
		t.Errorf("script %q", b)
	}
}

func TestOutputStreamed(t *testing.T) {
	p, comm, ui := setup(t, `inline = ["echo first", "sleep 1", "echo second >&2", "sleep 0.2"]`)
	t0 := time.Now()
	if err := p.Provision(t.Context(), ui, comm, info); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	first, ok := ui.Find("stdout", "first")
	if !ok {
		t.Fatal("no first line")
	}
	second, ok := ui.Find("stderr", "second")
	if !ok {
		t.Fatal("no second line on stderr")
	}
	if d := first.At.Sub(t0); d > 700*time.Millisecond {
		t.Errorf("first line arrived %s after the start, not as written", d)
	}
	if d := end.Sub(first.At); d < 900*time.Millisecond {
		t.Errorf("first line arrived only %s before the end", d)
	}
	if !second.At.After(first.At) {
		t.Error("lines out of order")
	}
}

func TestPauseAfterAndCancel(t *testing.T) {
	p, comm, ui := setup(t, "inline = [\"true\"]\npause_after = \"300ms\"")
	t0 := time.Now()
	if err := p.Provision(t.Context(), ui, comm, info); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el < 300*time.Millisecond {
		t.Errorf("returned after %s, before pause_after", el)
	}

	p, comm, ui = setup(t, `inline = ["sleep 30"]`)
	ctx, cancel := contextWithTimeout(t, 300*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	err := p.Provision(ctx, ui, comm, info)
	if err == nil {
		t.Fatal("a cancelled script succeeded")
	}
	if el := time.Since(t0); el > 5*time.Second {
		t.Errorf("cancel took %s", el)
	}
}

func TestNoCommunicator(t *testing.T) {
	p, _, ui := setup(t, `inline = ["true"]`)
	err := p.Provision(t.Context(), ui, nil, info)
	if err == nil || !strings.Contains(err.Error(), `communicator = "none"`) {
		t.Fatalf("error %v", err)
	}
}

// TestOneRoundTripPerScript: writing, running and removing a script is one
// command on the machine, and a script that cannot be written is reported
// as such, not as a failing script.
func TestOneRoundTripPerScript(t *testing.T) {
	p, comm, ui := setup(t, `inline = ["echo one"]`)
	if err := p.Provision(t.Context(), ui, comm, info); err != nil {
		t.Fatal(err)
	}
	if n := len(comm.Commands()); n != 1 {
		t.Fatalf("%d commands for one script, want 1: %q", n, comm.Commands())
	}

	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "file"), nil, 0o644)
	var cfg shell.Config
	configtest.MustPrepare(t, "shell", fmt.Sprintf("inline = [\"true\"]\nremote_path = %q", filepath.Join(root, "file", "x.sh")), &cfg)
	err := shell.New(&cfg).Provision(t.Context(), testui.New(t), localcomm.New(root), info)
	if err == nil || !strings.Contains(err.Error(), "could not write the script to") {
		t.Fatalf("err = %v", err)
	}
}

// TestExitStatus254: a script's own exit status 254 is reported as its
// status, not as a script that could not be written.
func TestExitStatus254(t *testing.T) {
	p, comm, ui := setup(t, `inline = ["echo to stderr >&2", "exit 254"]`)
	err := p.Provision(t.Context(), ui, comm, info)
	var ee *script.ExitError
	if !errors.As(err, &ee) || ee.Code != 254 || err.Error() != "inline commands: script exited with code 254" {
		t.Fatalf("error %v, want the script's exit code 254", err)
	}
	if got := ui.Text("stderr"); got != "to stderr" {
		t.Errorf("stderr %q", got)
	}

	p, comm, ui = setup(t, "inline = [\"exit 254\"]\nvalid_exit_codes = [0, 254]")
	if err := p.Provision(t.Context(), ui, comm, info); err != nil {
		t.Fatalf("254 is valid: %v", err)
	}
}

// TestCancelRemovesWhatItPut: when a script is cancelled (a timeout), the
// script and the environment file are removed from the machine all the
// same, and the error names the script and the cause, not the command
// or the variables.
func TestCancelRemovesWhatItPut(t *testing.T) {
	for _, envFile := range []bool{false, true} {
		t.Run(fmt.Sprintf("use_env_var_file=%v", envFile), func(t *testing.T) {
			src := "inline = [\"echo started\", \"sleep 600\"]\nenvironment_vars = [\"SECRET=hunter2-in-env\"]"
			if envFile {
				src += "\nuse_env_var_file = true"
			}
			p, comm, ui := setup(t, src)
			ctx, cancel := context.WithCancelCause(t.Context())
			timedOut := errors.New("timed out after 2s (timeout)")
			go func() {
				for {
					if _, ok := ui.Find("stdout", "started"); ok {
						cancel(timedOut)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
			err := p.Provision(ctx, ui, comm, info)
			if !errors.Is(err, timedOut) {
				t.Fatalf("error %v, want the timeout", err)
			}
			if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "sleep") || !strings.HasPrefix(msg, "inline commands: ") {
				t.Errorf("error %q", msg)
			}
			left, _ := os.ReadDir(comm.Root)
			if len(left) != 0 {
				t.Errorf("left on the machine: %v", left)
			}
		})
	}
}
