package configtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/templates/interpolate"
)

// Case is one table entry: a block body and what Prepare must say about it.
type Case struct {
	Name string
	// Src is the body of the block, in HCL native syntax. It may refer to
	// build.* (unknown values) and to var.* (see Vars).
	Src string
	// Want is a fragment of "summary: detail" of a diagnostic that must be
	// present. Empty means no error may be reported (warnings are allowed
	// unless WantWarning is set).
	Want string
	// Line is the line the diagnostic must point at (1 is the first line of
	// Src); 0 skips the check.
	Line int
	// Warning makes Want match a warning instead of an error, and requires
	// that no error be reported.
	Warning bool
}

// Ctx is the evaluation context the cases decode with: build.* is unknown,
// as in the loader before a build runs.
func Ctx() *hcl.EvalContext {
	return &hcl.EvalContext{Variables: map[string]cty.Value{
		"build": cty.DynamicVal,
	}}
}

// Now is the run's time the cases decode with: {{ timestamp }} is
// 1714979289.
var Now = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// Interp is the {{ }} context the cases decode with, as the loader's for a
// source named "test" of the kind typ.
func Interp(typ string) *interpolate.Context {
	return &interpolate.Context{Now: Now, BuildName: "test", BuildType: typ, TemplateDir: "/template", WorkDir: "/work", Version: "1.11.0"}
}

// Decode parses src, decodes it into cfg as a block of the kind typ named
// "test", and runs Prepare (even after decode errors, as the loader does). It returns all diagnostics and the Body.
func Decode(t testing.TB, typ, src string, cfg templates.Config) (*templates.Body, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %s", diags)
	}
	def := hcl.Range{Filename: "test.hcl", Start: hcl.InitialPos, End: hcl.InitialPos}
	b, diags := templates.DecodeWith(f.Body, Ctx(), typ, def, cfg, Interp(typ))
	b.Name = "test"
	// Like the loader, run Prepare even after decode errors: it must not
	// panic or pile a second error onto an attribute that failed.
	return b, append(diags, cfg.Prepare(b)...)
}

// MustPrepare decodes and prepares src and fails the test on any error.
func MustPrepare(t testing.TB, typ, src string, cfg templates.Config) *templates.Body {
	t.Helper()
	b, diags := Decode(t, typ, src, cfg)
	if diags.HasErrors() {
		t.Fatalf("unexpected errors:\n%s", Format(diags))
	}
	return b
}

// Run runs each case as a subtest on a fresh config from newCfg.
func Run(t *testing.T, typ string, newCfg func() templates.Config, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		name := tc.Name
		if name == "" {
			name = tc.Want
		}
		t.Run(name, func(t *testing.T) {
			_, diags := Decode(t, typ, tc.Src, newCfg())
			check(t, tc, diags)
		})
	}
}

func check(t *testing.T, tc Case, diags hcl.Diagnostics) {
	t.Helper()
	seen := map[hcl.Pos]string{}
	for _, d := range diags {
		if d.Severity != hcl.DiagError || d.Subject == nil {
			continue
		}
		if prev, ok := seen[d.Subject.Start]; ok {
			t.Errorf("two errors at line %d col %d (one problem should be said once):\n  %s\n  %s",
				d.Subject.Start.Line, d.Subject.Start.Column, prev, d.Summary+": "+d.Detail)
		}
		seen[d.Subject.Start] = d.Summary + ": " + d.Detail
	}
	if tc.Want == "" {
		if diags.HasErrors() {
			t.Fatalf("want no error, got:\n%s", Format(diags))
		}
		return
	}
	sev := hcl.DiagError
	if tc.Warning {
		sev = hcl.DiagWarning
		if diags.HasErrors() {
			t.Fatalf("want only warnings, got:\n%s", Format(diags))
		}
	}
	for _, d := range diags {
		if d.Severity != sev || !strings.Contains(d.Summary+": "+d.Detail, tc.Want) {
			continue
		}
		if tc.Line != 0 {
			if d.Subject == nil {
				t.Fatalf("diagnostic %q has no subject", d.Summary+": "+d.Detail)
			}
			if d.Subject.Start.Line != tc.Line {
				t.Fatalf("diagnostic %q at line %d, want line %d", d.Summary+": "+d.Detail, d.Subject.Start.Line, tc.Line)
			}
		}
		return
	}
	t.Fatalf("want a diagnostic containing %q, got:\n%s", tc.Want, Format(diags))
}

// Format renders diags one per line for failure messages.
func Format(diags hcl.Diagnostics) string {
	var sb strings.Builder
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		fmt.Fprintf(&sb, "  %s line %d: %s: %s\n", sev, line, d.Summary, d.Detail)
	}
	if sb.Len() == 0 {
		return "  (none)\n"
	}
	return sb.String()
}
