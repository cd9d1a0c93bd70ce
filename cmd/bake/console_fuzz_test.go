package main

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/templates"
)

// FuzzConsoleEval feeds console lines to the template in
// testdata/console, seeded with the expressions in
// testdata/console/expressions.txt: no input may crash the console or
// print the sensitive variable's value, and the result, escaped for
// -machine-readable, stays one field of one line.
func FuzzConsoleEval(f *testing.F) {
	seeds, err := os.ReadFile("testdata/console/expressions.txt")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(seeds))
	for sc.Scan() {
		f.Add(sc.Text())
	}
	plan, diags := templates.Load("testdata/console/t.pkr.hcl", templates.LoadOptions{Version: version})
	if diags.HasErrors() {
		f.Fatal(diags)
	}
	const secret = "fuzz-console-s3cret"
	f.Fuzz(func(t *testing.T, line string) {
		var stderr bytes.Buffer
		c := &console{env: &cliEnv{stderr: &stderr}, plan: plan, redact: redact.New(plan.SensitiveValues())}
		out, _ := c.eval(line)
		if strings.Contains(out, secret) || strings.Contains(stderr.String(), secret) {
			t.Fatalf("%q printed the sensitive value: %q %q", line, out, stderr.String())
		}
		if e := machineEscape(out); strings.ContainsAny(e, ",\n\r") {
			t.Fatalf("machine-readable escape of %q is not one field: %q", out, e)
		}
	})
}
