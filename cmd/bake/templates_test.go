package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs bake in-process and returns its exit code and output.
func runCLI(t *testing.T, stdin string, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &cliEnv{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(stdin), environ: environ}
	code := run(context.Background(), env, args)
	return code, stdout.String(), stderr.String()
}

const fixtureDir = "../../testdata/templates"

func TestValidate(t *testing.T) {
	multi := filepath.Join(fixtureDir, "valid/multi")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{"docker", []string{"validate", fixtureDir + "/valid/docker.pkr.hcl"}, exitOK, "The configuration is valid.\n", nil},
		{"flags after path, double dash", []string{"validate", multi, "--var", "from_cli=x", "-var-file=" + multi + "/extra.pkrvars.hcl"}, exitOK, "The configuration is valid.\n", nil},
		{"unset variable", []string{"validate", multi}, exitUsage, "", []string{"Error: Unset variable", "variables.pkr.hcl:22:1"}},
		{"only", []string{"validate", "-only", "docker.ubuntu-*", fixtureDir + "/valid/docker.pkr.hcl"}, exitOK, "The configuration is valid.\n", nil},
		{"only matches nothing", []string{"validate", "-only", "qemu.*", fixtureDir + "/valid/docker.pkr.hcl"}, exitUsage, "",
			[]string{"No build matches -only qemu.*", "learn-packer.docker.ubuntu, learn-packer.docker.ubuntu-focal"}},
		{"invalid", []string{"validate", fixtureDir + "/invalid/unknown_attribute.pkr.hcl"}, exitUsage, "",
			[]string{"unknown_attribute.pkr.hcl:4:3", `Did you mean "commit"?`, "   4:   comit = true", "^^^^^"}},
		{"syntax only passes semantics", []string{"validate", "-syntax-only", fixtureDir + "/invalid/unknown_attribute.pkr.hcl"}, exitOK, "The configuration is valid.\n", nil},
		{"syntax only", []string{"validate", "-syntax-only", fixtureDir + "/invalid/syntax_error.pkr.hcl"}, exitUsage, "", []string{"Invalid expression"}},
		{"warning only", []string{"validate", fixtureDir + "/invalid/unknown_plugin.pkr.hcl"}, exitOK, "The configuration is valid.\n", []string{"Warning: Plugin not built in"}},
		{"no path", []string{"validate"}, exitUsage, "", []string{"give one template"}},
		{"bad flag", []string{"validate", "-nope", "x"}, exitUsage, "", []string{"flag provided but not defined"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", nil, tc.args...)
			if code != tc.code || stdout != tc.stdout {
				t.Errorf("exit %d, stdout %q; want %d, %q\nstderr:\n%s", code, stdout, tc.code, tc.stdout, stderr)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

func TestInspect(t *testing.T) {
	multi := filepath.Join(fixtureDir, "valid/multi")
	code, stdout, stderr := runCLI(t, "", []string{"PKR_VAR_from_env=env"}, "inspect", multi, "-var", "from_cli=cli")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range []string{
		`var.from_env: "env"`, "set by the environment variable PKR_VAR_from_env",
		`var.from_cli: "cli"`, "var.api_token: <sensitive>", "local.auth_header: <sensitive>",
		"var.from_auto: 42", `local.image_tag: "bake-42"`,
		"docker.slim (source.docker.base)", "shell (only docker.slim, docker.full)",
		"error-cleanup-provisioner:\n      shell-local", `1: docker-tag (except null.host) → manifest "record"`,
	} {
		if !strings.Contains(stdout, s) {
			t.Errorf("inspect output lacks %q:\n%s", s, stdout)
		}
	}
}

// TestSensitiveNeverPrinted checks that sensitive values, from -var, the
// environment and a default written in the template, appear in no output
// of validate or inspect, valid or not.
func TestSensitiveNeverPrinted(t *testing.T) {
	secrets := []string{"hunter2-from-cli", "tok-written-in-the-file", "env-secret-value"}
	tmpl := `
variable "password" {
  type      = string
  sensitive = true
}
variable "token" {
  type      = string
  sensitive = true
  default   = "tok-written-in-the-file"
}
variable "env_secret" {
  type      = string
  sensitive = true
}
locals {
  header = "Bearer ${var.token}"
}
source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = ["echo ${var.password} ${var.token} ${local.header} ${var.env_secret}"]
  }
}
`
	bad := strings.Replace(tmpl, `  default   = "tok-written-in-the-file"`, `  default   = "tok-written-in-the-file"
  validation {
    condition     = var.token == "something else"
    error_message = "Wrong token."
  }`, 1) + `
locals {
  broken = "${var.password}" + 1
}
`
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pkr.hcl")
	badFile := filepath.Join(dir, "bad.pkr.hcl")
	if err := os.WriteFile(good, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badFile, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	environ := []string{"PKR_VAR_env_secret=env-secret-value"}
	for _, args := range [][]string{
		{"validate", "-var", "password=hunter2-from-cli", good},
		{"inspect", "-var", "password=hunter2-from-cli", good},
		{"validate", "-var", "password=hunter2-from-cli", badFile},
		{"inspect", "-var", "password=hunter2-from-cli", badFile},
	} {
		code, stdout, stderr := runCLI(t, "", environ, args...)
		if strings.Contains(args[len(args)-1], "bad") && code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		if strings.Contains(args[len(args)-1], "good") && code != exitOK {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
		for _, s := range secrets {
			if strings.Contains(stdout+stderr, s) {
				t.Errorf("%v printed the sensitive value %q:\n%s%s", args, s, stdout, stderr)
			}
		}
	}
}

func TestFmt(t *testing.T) {
	dir := t.TempDir()
	messy := "source \"docker\" \"x\" {\nimage=\"debian\"\n  commit    = true\n}\n"
	tidy := "source \"docker\" \"x\" {\n  image  = \"debian\"\n  commit = true\n}\n"
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.pkr.hcl", messy)
	b := write("b.pkr.hcl", tidy)
	sub := write("sub/c.pkr.hcl", messy)
	write("notes.txt", "not = a template")

	code, stdout, _ := runCLI(t, "", nil, "fmt", "-check", dir)
	if code != exitFailed || stdout != a+"\n" {
		t.Errorf("-check: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = runCLI(t, "", nil, "fmt", "-diff", "-write=false", a)
	if code != exitOK || !strings.Contains(stdout, "\n-image=\"debian\"\n-  commit    = true\n+  image  = \"debian\"\n") {
		t.Errorf("-diff: exit %d:\n%s", code, stdout)
	}
	if got, _ := os.ReadFile(a); string(got) != messy {
		t.Errorf("-write=false wrote the file")
	}
	code, stdout, _ = runCLI(t, "", nil, "fmt", dir, "-recursive")
	if code != exitOK || stdout != a+"\n"+sub+"\n" {
		t.Errorf("fmt: exit %d, stdout %q", code, stdout)
	}
	for _, p := range []string{a, b, sub} {
		if got, _ := os.ReadFile(p); string(got) != tidy {
			t.Errorf("%s:\n%s", p, got)
		}
	}
	if code, stdout, _ = runCLI(t, "", nil, "fmt", "-check", "-recursive", dir); code != exitOK || stdout != "" {
		t.Errorf("second -check: exit %d, stdout %q", code, stdout)
	}
	if code, stdout, _ = runCLI(t, messy, nil, "fmt", "-"); code != exitOK || stdout != tidy {
		t.Errorf("stdin: exit %d, stdout %q", code, stdout)
	}
	if code, _, stderr := runCLI(t, "a = = 1\n", nil, "fmt", "-"); code != exitUsage || !strings.Contains(stderr, "Invalid expression") {
		t.Errorf("syntax error: exit %d, %s", code, stderr)
	}
}

// TestFmtFixtures checks that bake fmt leaves every fixture as it is once
// formatted: a second run changes nothing.
func TestFmtFixtures(t *testing.T) {
	dir := t.TempDir()
	var n int
	err := filepath.WalkDir(fixtureDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".hcl") || strings.Contains(p, "syntax_error") {
			return err
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		rel, _ := filepath.Rel(fixtureDir, p)
		dst := filepath.Join(dir, strings.ReplaceAll(rel, string(filepath.Separator), "_")+".pkr.hcl")
		return os.WriteFile(dst, src, 0o644)
	})
	if err != nil || n < 30 {
		t.Fatalf("copied %d fixtures: %v", n, err)
	}
	if code, _, stderr := runCLI(t, "", nil, "fmt", dir); code != exitOK {
		t.Fatalf("first fmt: exit %d: %s", code, stderr)
	}
	if code, stdout, _ := runCLI(t, "", nil, "fmt", "-check", dir); code != exitOK || stdout != "" {
		t.Errorf("fmt is not idempotent: exit %d, changed again: %s", code, stdout)
	}
}
