package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/templates"
)

// bakeBin runs the bake binary in dir with stdin and returns the exit
// code, stdout and stderr.
func bakeBin(t *testing.T, dir, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bakebin.Path(t), args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

const consoleTemplate = `
packer {
  required_plugins {
    docker = { source = "github.com/hashicorp/docker", version = ">= 1.0.0" }
    amazon = { source = "github.com/hashicorp/amazon", version = "~> 1" }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "password" {
  type      = string
  default   = "console-s3cret-pw"
  sensitive = true
}

locals {
  name  = "golden-${var.region}"
  list  = ["a", 1, true]
  tags  = { Owner = "ops", Base = { id = "ami-1" } }
  greet = file("greeting.txt")
}
`

// TestConsoleFromStdin is `echo EXPR | bake console t.pkr.hcl`: the bake
// binary evaluates each line with the template's variables, locals and
// functions (-var applied, relative files read from the template's
// directory), prints the last result in Packer's format, hides sensitive
// values, and reports an error as a diagnostic without stopping.
func TestConsoleFromStdin(t *testing.T) {
	dir := t.TempDir()
	tdir := filepath.Join(dir, "t")
	os.MkdirAll(tdir, 0o755)
	os.WriteFile(filepath.Join(tdir, "t.pkr.hcl"), []byte(consoleTemplate), 0o644)
	os.WriteFile(filepath.Join(tdir, "greeting.txt"), []byte("hello"), 0o644)
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
		code        int
		stderr      string
	}{
		{name: "variable", stdin: "var.region\n", want: "us-east-1\n"},
		{name: "-var", stdin: "var.region\n", args: []string{"-var", "region=eu-west-1"}, want: "eu-west-1\n"},
		{name: "local and function", stdin: "upper(local.name)\n", want: "GOLDEN-US-EAST-1\n"},
		{name: "file from the template's directory", stdin: "local.greet\n", want: "hello\n"},
		{name: "list", stdin: "local.list\n", want: "[\n  \"a\",\n  1,\n  true,\n]\n"},
		{name: "map", stdin: "local.tags\n", want: "{\n  \"Base\" = {\n    \"id\" = \"ami-1\"\n  }\n  \"Owner\" = \"ops\"\n}\n"},
		{name: "last line wins", stdin: "var.region\n\"second\"\n", want: "second\n"},
		{name: "sensitive", stdin: "var.password\n", want: "(sensitive value)\n"},
		{name: "sensitive through a function", stdin: "base64encode(var.password)\n", want: "(sensitive value)\n"},
		{name: "error then value", stdin: "var.nope\nvar.region\n", want: "us-east-1\n", code: exitFailed,
			stderr: `Unsupported attribute`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"console"}, tc.args...), "t/t.pkr.hcl")
			code, stdout, stderr := bakeBin(t, dir, tc.stdin, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			if stdout != tc.want {
				t.Errorf("stdout %q, want %q", stdout, tc.want)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if strings.Contains(stdout+stderr, "console-s3cret-pw") {
				t.Errorf("the sensitive value was printed:\n%s%s", stdout, stderr)
			}
		})
	}
}

// TestInitExitCodes runs `bake init` on templates whose required_plugins
// are all built in (exit 0, naming the built-in serving each), one with a
// plugin bake does not have (exit 1, naming it), and one with none.
func TestInitExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)
	}
	write("ok.pkr.hcl", consoleTemplate)
	write("missing.pkr.hcl", `
packer {
  required_plugins {
    qemu    = { source = "github.com/hashicorp/qemu", version = ">= 1.0.0" }
    vsphere = { source = "github.com/hashicorp/vsphere", version = ">= 1.0.0" }
  }
}
source "vsphere-iso" "x" {}
`)
	write("none.pkr.hcl", `source "null" "x" { communicator = "none" }`)
	write("broken.pkr.hcl", "packer {\n")

	code, stdout, stderr := bakeBin(t, dir, "", "init", "ok.pkr.hcl")
	if code != exitOK {
		t.Errorf("init ok.pkr.hcl: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"github.com/hashicorp/docker: served by built-in source docker",
		"github.com/hashicorp/amazon: served by built-in source amazon-ebs",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("init ok.pkr.hcl: stdout lacks %q:\n%s", want, stdout)
		}
	}

	code, stdout, stderr = bakeBin(t, dir, "", "init", "missing.pkr.hcl")
	if code != exitFailed {
		t.Errorf("init missing.pkr.hcl: exit %d, want %d\n%s%s", code, exitFailed, stdout, stderr)
	}
	if !strings.Contains(stdout, "github.com/hashicorp/qemu: served by built-in source qemu") ||
		!strings.Contains(stderr, "not served by a built-in kind (bake downloads no plugins): github.com/hashicorp/vsphere") {
		t.Errorf("init missing.pkr.hcl does not name what is served and what is not:\n%s%s", stdout, stderr)
	}

	if code, stdout, stderr = bakeBin(t, dir, "", "init", "none.pkr.hcl"); code != exitOK {
		t.Errorf("init none.pkr.hcl: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr = bakeBin(t, dir, "", "init", "broken.pkr.hcl"); code != exitUsage {
		t.Errorf("init broken.pkr.hcl: exit %d, want %d\n%s%s", code, exitUsage, stdout, stderr)
	}
}

// TestConsoleInteractive drives the terminal loop: each result is printed
// as it is typed, an error is a diagnostic and the loop goes on, "exit"
// ends it with 0.
func TestConsoleInteractive(t *testing.T) {
	dir := writeTemplate(t, consoleTemplate)
	os.WriteFile(filepath.Join(dir, "greeting.txt"), []byte("hi"), 0o644)
	plan, diags := templates.Load(dir, templates.LoadOptions{Version: version})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var stdout, stderr bytes.Buffer
	c := &console{env: &cliEnv{stdout: &stdout, stderr: &stderr,
		stdin: strings.NewReader("var.region\nvar.nope\n\nlocal.greet\nvar.password\nexit\nvar.region\n")},
		plan: plan, redact: redact.New(plan.SensitiveValues())}
	if code := c.interactive(); code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
	if want := "us-east-1\nhi\n(sensitive value)\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "Unsupported attribute") || !strings.Contains(stderr.String(), "> ") {
		t.Errorf("stderr lacks the prompt or the diagnostic:\n%s", stderr.String())
	}
}
