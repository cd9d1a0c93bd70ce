package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildExceptSkipsNamedPostProcessors: -except=name skips the
// post-processor of that name (or, unnamed, of that type) and the rest of
// its chain, as in Packer, while the build and the other chains run; a
// name that matches neither a build nor a post-processor is still an
// error.
func TestBuildExceptSkipsNamedPostProcessors(t *testing.T) {
	srcs, refs := nullSources("a")
	dir := writeTemplate(t, srcs+fmt.Sprintf(`
build {
  sources = %s
  post-processor "shell-local" {
    name   = "notify"
    inline = ["touch notified"]
  }
  post-processors {
    post-processor "shell-local" {
      name   = "first"
      inline = ["touch first"]
    }
    post-processor "shell-local" {
      name   = "second"
      inline = ["touch second"]
    }
  }
  post-processor "shell-local" {
    inline = ["touch unnamed"]
  }
}
`, refs))
	t.Chdir(dir) // shell-local post-processors run in the working directory
	for _, tc := range []struct {
		except string
		want   string // files the post-processors wrote
	}{
		{"", "first notified second unnamed"},
		{"notify", "first second unnamed"},
		{"first", "notified unnamed"},
		{"second", "first notified unnamed"},
		{"shell-local", "first notified second"},
		{"notify,first", "unnamed"},
	} {
		t.Run(tc.except, func(t *testing.T) {
			for _, f := range []string{"notified", "first", "second", "unnamed"} {
				os.Remove(filepath.Join(dir, f))
			}
			var args []string
			if tc.except != "" {
				args = []string{"-except", tc.except}
			}
			code, evs, stderr := buildJSON(t, dir, args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if got := finished(evs)["null.a"]; got != "succeeded" {
				t.Errorf("null.a %q, want succeeded", got)
			}
			var wrote []string
			for _, f := range []string{"first", "notified", "second", "unnamed"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					wrote = append(wrote, f)
				}
			}
			if got := strings.Join(wrote, " "); got != tc.want {
				t.Errorf("-except %q: post-processors wrote %q, want %q", tc.except, got, tc.want)
			}
		})
	}
	code, _, stderr := buildJSON(t, dir, "-except", "nothing-named-so")
	if code != exitUsage || !strings.Contains(stderr, "nothing-named-so") {
		t.Errorf("-except matching nothing: exit %d, want %d with the pattern named:\n%s", code, exitUsage, stderr)
	}
}

// TestWarnOnUndeclaredVar: -warn-on-undeclared-var is accepted on build
// and validate as Packer's scripts pass it; a value for an undeclared
// variable, from -var or a var file, is a warning naming it (with a
// suggestion), never an error and never silent.
func TestWarnOnUndeclaredVar(t *testing.T) {
	srcs, refs := nullSources("a")
	dir := writeTemplate(t, `variable "region" { default = "x" }`+"\n"+srcs+fmt.Sprintf("build {\n  sources = %s\n}\n", refs))
	vf := filepath.Join(dir, "v.pkrvars.hcl")
	os.WriteFile(vf, []byte("regoin = \"y\"\n"), 0o644)
	for _, verb := range []string{"validate", "build"} {
		args := []string{verb, "-warn-on-undeclared-var", "-var", "undeclared_x=1", "-var-file", vf}
		if verb == "build" {
			args = append(args, "-manifest", "")
		}
		code, _, stderr := bakeRun(t, os.Environ(), append(args, dir)...)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s", verb, code, stderr)
		}
		for _, want := range []string{`"undeclared_x"`, `"regoin"`, `Did you mean "region"?`} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: the warning does not name %s:\n%s", verb, want, stderr)
			}
		}
	}
}
