package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateCompat = flag.Bool("update", false, "rewrite the golden files of testdata/compat")

// compatDir holds the compatibility corpus: one directory per case, each
// the directory Packer would be run from (see its README).
const compatDir = "../../testdata/compat"

// TestCompatCorpus runs bake on every template of the corpus from the
// directory Packer would be run from, with the arguments in its args
// file, and compares the output with its golden inspect.golden
// (go test -run TestCompatCorpus -update rewrites them). Packer 1.9 loads
// every one of them, so each must load here too (exit 0).
func TestCompatCorpus(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join(compatDir, "*", "*", "args"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 40 {
		t.Fatalf("the corpus has %d cases, want at least 40", len(cases))
	}
	for _, argsFile := range cases {
		dir, err := filepath.Abs(filepath.Dir(argsFile))
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				t.Fatal(err)
			}
			args := strings.Fields(string(raw))
			environ := compatEnviron(t, dir)
			t.Chdir(dir)
			code, stdout, stderr := runCLI(t, "", environ, args...)
			got := fmt.Sprintf("$ bake %s\nexit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), code, stdout, stderr)
			golden := filepath.Join(dir, "inspect.golden")
			if *updateCompat {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n%s", golden, lineDiffText(string(want), got))
			}
			if code != exitOK {
				t.Errorf("exit %d: Packer loads this template, bake must too", code)
			}
		})
	}
}

// compatEnviron returns the environment a case runs with: its env file's
// KEY=value lines and nothing else of this process's environment. The
// same values are set in the process (the AWS region chain reads it),
// whose AWS configuration is emptied first.
func compatEnviron(t *testing.T, dir string) []string {
	t.Helper()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	data, err := os.ReadFile(filepath.Join(dir, "env"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var environ []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("env: %q is not KEY=value", line)
		}
		t.Setenv(k, v)
		environ = append(environ, line)
	}
	return environ
}

// lineDiffText shows the first differing line of want and got.
func lineDiffText(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n want %q\n  got %q\n\ngot in full:\n%s", i+1, wl, gl, got)
		}
	}
	return ""
}
