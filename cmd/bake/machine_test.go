package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestMachineReadableVerbs: -machine-readable, before or after the verb
// as Packer takes it, turns version, validate and inspect output into
// Packer's lines on stdout: version's three lines, the result as ui say,
// and diagnostics as ui error (escaped, one line each).
func TestMachineReadableVerbs(t *testing.T) {
	srcs, refs := nullSources("a")
	good := writeTemplate(t, srcs+"build {\n  sources = "+refs+"\n}\n")
	bad := writeTemplate(t, "source \"null\" \"a\" {\n  communicator = \"none\"\n  nope = 1\n}\n")
	line := regexp.MustCompile(`^[0-9]{10,},[^,]*,[a-z-]+(,[^,]*)*$`)
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"-machine-readable", "version"}, exitOK, []string{",,version,", ",,version-prelease,", ",,version-commit,", ",,ui,say,bake "}},
		{[]string{"version", "-machine-readable"}, exitOK, []string{",,version,"}},
		{[]string{"validate", "-machine-readable", good}, exitOK, []string{",,ui,say,The configuration is valid.\n"}},
		{[]string{"validate", "-machine-readable", bad}, exitUsage, []string{",,ui,error,Error: Unsupported argument\\n"}},
		{[]string{"-machine-readable", "inspect", good}, exitOK, []string{",,ui,say,Variables:\\n"}},
	} {
		code, stdout, stderr := bakeRun(t, os.Environ(), tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, tc.code, stderr)
		}
		if stderr != "" {
			t.Errorf("%v: stderr %q, want everything on stdout", tc.args, stderr)
		}
		for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
			if !line.MatchString(l) {
				t.Errorf("%v: not a machine-readable line: %q", tc.args, l)
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tc.args, w, stdout)
			}
		}
	}
}

func TestMachineEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                           "plain",
		"a,b":                             "a%!(PACKER_COMMA)b",
		"one\ntwo\r\n":                    `one\ntwo\r\n`,
		"us-east-1:ami-1,eu-west-1:ami-2": "us-east-1:ami-1%!(PACKER_COMMA)eu-west-1:ami-2",
	} {
		if got := machineEscape(in); got != want {
			t.Errorf("machineEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
