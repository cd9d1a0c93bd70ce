package policy

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestCompareDebianVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.0-0", 0},
		{"1:1.0", "2.0", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0", "1.0+deb12u1", -1},
		{"3.0.11-1~deb12u2", "3.0.15-1~deb12u1", -1},
		{"2.36-9+deb12u4", "2.36-9+deb12u10", -1},
		{"1.2a", "1.2", 1},
		{"1.2", "1.2.0", -1},
		{"10", "9", 1},
		{"0:1.0", "1.0", 0},
		{"1.0-1", "1.0-1.1", -1},
		{"1~~", "1~~a", -1},
		{"1~", "1", -1},
	} {
		if got := CompareDebianVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareDebianVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestMatchDebianVersion(t *testing.T) {
	ok, err := MatchDebianVersion("3.0.11-1~deb12u2", ">= 3.0.0, << 3.0.15")
	if err != nil || !ok {
		t.Errorf("in range: %v %v", ok, err)
	}
	ok, _ = MatchDebianVersion("3.0.15-1~deb12u1", ">= 3.0.0, << 3.0.15")
	if ok {
		t.Errorf("3.0.15-1~deb12u1 matched << 3.0.15")
	}
	if _, err := MatchDebianVersion("1", "~> 2"); err == nil {
		t.Error("bad operator accepted")
	}
}

func input(dirty bool, openssl string, signedAgo time.Duration) *Input {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	return &Input{
		Manifest: map[string]any{"builds": []any{map[string]any{
			"name": "docker.app", "status": "succeeded",
			"parent": map[string]any{"ref": "bake.local/debian:bookworm"},
			"sbom":   map[string]any{"sha256": "abc"},
		}}},
		SBOMs: map[string]any{"docker.app": map[string]any{"sha256": "abc", "packages": []any{
			map[string]any{"name": "openssl", "version": openssl, "purl": "pkg:deb/debian/openssl@" + openssl},
			map[string]any{"name": "bash", "version": "5.2.15-2+b2"},
		}}},
		Provenance: map[string]any{"buildDefinition": map[string]any{"externalParameters": map[string]any{"source": map[string]any{"dirty": dirty}}}},
		Signature:  map[string]any{"signed": true, "signedAt": now.Add(-signedAgo)},
		Now:        now,
	}
}

func loadTestPolicy(t *testing.T) *Policy {
	t.Helper()
	src, err := os.ReadFile("testdata/release.policy.hcl")
	if err != nil {
		t.Fatal(err)
	}
	p, diags := Parse("release.policy.hcl", src)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return p
}

func TestEvaluate(t *testing.T) {
	p := loadTestPolicy(t)
	res, ok := p.Evaluate(input(false, "3.0.15-1~deb12u1", 24*time.Hour))
	if !ok {
		t.Fatalf("a clean run failed: %+v", res)
	}
	res, ok = p.Evaluate(input(true, "3.0.11-1~deb12u2", 40*24*time.Hour))
	if ok {
		t.Fatal("a dirty, old run with a denied package passed")
	}
	failed := map[string]bool{}
	for _, r := range res {
		if !r.Pass {
			failed[r.Rule] = true
		}
	}
	for _, want := range []string{"no-denied-packages", "clean-tree", "signed-recently"} {
		if !failed[want] {
			t.Errorf("rule %s passed, want it to fail (%+v)", want, res)
		}
	}
	if len(failed) != 3 {
		t.Errorf("failed rules %v, want exactly 3", failed)
	}
}

// TestEvaluateMissingField: a rule that reads a field the document lacks
// fails with an error instead of passing.
func TestEvaluateMissingField(t *testing.T) {
	p, diags := Parse("p.hcl", []byte(`rule "x" { expr = "manifest.nope == 1" }`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, ok := p.Evaluate(&Input{Now: time.Now()})
	if ok || res[0].Error == "" {
		t.Fatalf("got %+v", res)
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"hcl syntax":    {"rule \"a\" {\n  expr = \"true\"\n\n rule {\n", "p.hcl:4"},
		"cel syntax":    {"rule \"a\" {\n  expr = \"true\"\n}\nrule \"b\" {\n  expr = \"builds.all(b, b.status ==)\"\n}\n", "p.hcl:5:36"},
		"not bool":      {"rule \"a\" {\n  expr = \"1 + 2\"\n}\n", "p.hcl:2:10: Rule \"a\": not a condition"},
		"no expr":       {"rule \"a\" {\n}\n", "p.hcl:1"},
		"duplicate":     {"rule \"a\" { expr = \"true\" }\nrule \"a\" { expr = \"false\" }\n", "p.hcl:2:1: Duplicate rule"},
		"empty":         {"", "Empty policy"},
		"unknown func":  {"rule \"a\" {\n  expr = \"nope(1)\"\n}\n", "p.hcl:2:15: Rule \"a\": invalid expression: undeclared reference to 'nope'"},
		"heredoc error": {"rule \"a\" {\n  expr = <<-CEL\n    true &&\n    (\n  CEL\n}\n", "p.hcl:"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := Parse("p.hcl", []byte(tc.src))
			if got := FormatDiagnostics(diags); !diags.HasErrors() || !strings.Contains(got, tc.want) {
				t.Fatalf("diags = %s, want %q", got, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	if src, err := os.ReadFile("testdata/release.policy.hcl"); err == nil {
		f.Add(src)
	}
	f.Add([]byte(`rule "a" { expr = "deb_version_matches('1.0', '<< 2')" }`))
	f.Add([]byte("rule \"a\" {\n  expr = <<-CEL\n  (\n  CEL\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, diags := Parse("f.hcl", src)
		if diags.HasErrors() {
			if p != nil {
				t.Fatal("policy returned with errors")
			}
			for _, d := range diags {
				_ = d.Error()
			}
			return
		}
		// A policy that parsed evaluates without panicking on an empty
		// document.
		p.Evaluate(&Input{Now: time.Unix(0, 0)})
	})
}
