// Package policy checks a verified run against a file of named rules
// written in CEL (the Common Expression Language that Kubernetes and the
// sigstore policy-controller use). Facts in, verdicts out: the command line
// verifies the manifest, its SBOMs and its provenance and hands them over
// as an Input; each rule is an expression over that document that must be
// true.
//
// A policy file is HCL:
//
//	rule "tests-passed" {
//	  description = "every build's tests passed"
//	  expr        = "builds.all(b, b.status == 'succeeded')"
//	}
package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Policy is a parsed and compiled policy file.
type Policy struct {
	Rules []*Rule
}

// Rule is one named rule.
type Rule struct {
	Name        string
	Description string
	Expr        string
	// Range is where the expression is in the file.
	Range hcl.Range
	prg   cel.Program
}

type fileSchema struct {
	Rules []ruleBlock `hcl:"rule,block"`
}

type ruleBlock struct {
	Name        string         `hcl:"name,label"`
	Description string         `hcl:"description,optional"`
	Expr        hcl.Expression `hcl:"expr"`
	DeclRange   hcl.Range      `hcl:",def_range"`
}

// Parse reads a policy file and compiles every rule. All problems are
// returned as diagnostics with their file:line:col: HCL syntax, a rule
// without expr, two rules of one name, a CEL expression that does not
// parse or type-check (at its line and column in the file), an expression
// that is not a bool.
func Parse(filename string, src []byte) (*Policy, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	var fs fileSchema
	diags = append(diags, gohcl.DecodeBody(f.Body, nil, &fs)...)
	if diags.HasErrors() {
		return nil, diags
	}
	env, err := Env()
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "CEL environment", Detail: err.Error()})
	}
	p := &Policy{}
	seen := map[string]hcl.Range{}
	if len(fs.Rules) == 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty policy",
			Detail: "The policy has no rule blocks: it would allow anything.", Subject: f.Body.MissingItemRange().Ptr()})
	}
	for _, rb := range fs.Rules {
		if prev, dup := seen[rb.Name]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate rule",
				Detail: fmt.Sprintf("Rule %q is already defined at %s.", rb.Name, prev), Subject: rb.DeclRange.Ptr()})
			continue
		}
		seen[rb.Name] = rb.DeclRange
		val, vd := rb.Expr.Value(nil)
		diags = append(diags, vd...)
		if vd.HasErrors() {
			continue
		}
		if val.IsNull() || !val.Type().Equals(ctyString) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Rule expression must be a string",
				Detail: "expr holds a CEL expression as a string.", Subject: rb.Expr.Range().Ptr()})
			continue
		}
		r := &Rule{Name: rb.Name, Description: rb.Description, Expr: val.AsString(), Range: rb.Expr.Range()}
		ast, iss := env.Compile(r.Expr)
		if iss != nil && iss.Err() != nil {
			for _, e := range iss.Errors() {
				loc := e.Location
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Rule %q: invalid expression", r.Name),
					Detail: e.Message, Subject: exprPos(rb.Expr, src, loc.Line(), loc.Column()).Ptr()})
			}
			continue
		}
		if !ast.OutputType().IsExactType(cel.BoolType) && !ast.OutputType().IsExactType(cel.DynType) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Rule %q: not a condition", r.Name),
				Detail: fmt.Sprintf("The expression gives a %s; a rule must give a bool.", ast.OutputType()), Subject: rb.Expr.Range().Ptr()})
			continue
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(10_000_000))
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Rule %q", r.Name), Detail: err.Error(), Subject: rb.Expr.Range().Ptr()})
			continue
		}
		r.prg = prg
		p.Rules = append(p.Rules, r)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

// exprPos maps a CEL error position (1-based line, 0-based column inside
// the expression) onto the file: for a one-line quoted string, the
// column after the opening quote; for a heredoc, the line below the
// marker. It falls back to the attribute's start.
func exprPos(expr hcl.Expression, src []byte, line, col int) hcl.Range {
	r := expr.Range()
	start := r.Start
	if line < 1 {
		return r
	}
	if t, ok := expr.(*hclsyntax.TemplateExpr); ok && len(t.Parts) > 0 {
		first := t.Parts[0].Range().Start
		start = first
		if line > 1 {
			start.Line += line - 1
			start.Column = 1
		}
	} else if line > 1 {
		return r
	}
	if col >= 0 {
		start.Column += col
	}
	end := start
	end.Column++
	return hcl.Range{Filename: r.Filename, Start: start, End: end}
}

// Result is one rule's verdict.
type Result struct {
	Rule        string `json:"rule"`
	Description string `json:"description,omitempty"`
	Pass        bool   `json:"pass"`
	// Error says why the rule could not be evaluated (a missing field, a
	// bad argument); such a rule fails.
	Error string `json:"error,omitempty"`
}

// Evaluate runs every rule on in and returns one result per rule, in file
// order, and whether all passed.
func (p *Policy) Evaluate(in *Input) ([]Result, bool) {
	vars := in.vars()
	all := true
	var out []Result
	for _, r := range p.Rules {
		res := Result{Rule: r.Name, Description: r.Description}
		v, _, err := r.prg.Eval(vars)
		switch {
		case err != nil:
			res.Error = err.Error()
		default:
			b, ok := v.Value().(bool)
			if !ok {
				res.Error = fmt.Sprintf("gave %v, not a bool", v.Value())
			}
			res.Pass = ok && b
		}
		all = all && res.Pass
		out = append(out, res)
	}
	return out, all
}

// Input is the document rules see. Each field is a CEL variable of the
// same name (see README "Policies").
type Input struct {
	// Manifest is the run manifest's predicate as JSON decodes it, with
	// "subjects" added.
	Manifest map[string]any
	// SBOMs maps a build name to {"packages": [{name, version, purl}],
	// "notes": [...], "sha256": ...}.
	SBOMs map[string]any
	// Provenance is the SLSA provenance predicate, or an empty map when
	// the run has none.
	Provenance map[string]any
	// Signature is {"signed": bool, "keyHint": string, "signedAt":
	// timestamp}; signedAt is the manifest's createdAt.
	Signature map[string]any
	// Now is the time of the check.
	Now time.Time
}

func (in *Input) vars() map[string]any {
	builds, _ := in.Manifest["builds"].([]any)
	if builds == nil {
		builds = []any{}
	}
	var pkgs []any
	for build, s := range in.SBOMs {
		m, _ := s.(map[string]any)
		list, _ := m["packages"].([]any)
		for _, p := range list {
			if pm, ok := p.(map[string]any); ok {
				c := map[string]any{"build": build}
				for k, v := range pm {
					c[k] = v
				}
				pkgs = append(pkgs, c)
			}
		}
	}
	if pkgs == nil {
		pkgs = []any{}
	}
	nz := func(m map[string]any) map[string]any {
		if m == nil {
			return map[string]any{}
		}
		return m
	}
	return map[string]any{
		"manifest":   nz(in.Manifest),
		"builds":     builds,
		"sboms":      nz(in.SBOMs),
		"packages":   pkgs,
		"provenance": nz(in.Provenance),
		"signature":  nz(in.Signature),
		"now":        in.Now,
	}
}

// Env is the CEL environment of every rule: the Input variables and the
// functions bake adds: deb_version_compare(a, b) int,
// deb_version_matches(version, constraint) bool, image_registry(ref) and
// image_repository(ref) string.
func Env() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("manifest", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("builds", cel.ListType(cel.DynType)),
		cel.Variable("sboms", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("packages", cel.ListType(cel.DynType)),
		cel.Variable("provenance", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("signature", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
		cel.Function("deb_version_compare",
			cel.Overload("deb_version_compare_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.IntType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					return types.Int(CompareDebianVersions(string(a.(types.String)), string(b.(types.String))))
				}))),
		cel.Function("deb_version_matches",
			cel.Overload("deb_version_matches_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					ok, err := MatchDebianVersion(string(a.(types.String)), string(b.(types.String)))
					if err != nil {
						return types.NewErr("deb_version_matches: %s", err)
					}
					return types.Bool(ok)
				}))),
		cel.Function("image_registry",
			cel.Overload("image_registry_string", []*cel.Type{cel.StringType}, cel.StringType,
				cel.UnaryBinding(func(a ref.Val) ref.Val {
					n, err := reference.ParseNormalizedNamed(string(a.(types.String)))
					if err != nil {
						return types.NewErr("image_registry: %s", err)
					}
					return types.String(reference.Domain(n))
				}))),
		cel.Function("image_repository",
			cel.Overload("image_repository_string", []*cel.Type{cel.StringType}, cel.StringType,
				cel.UnaryBinding(func(a ref.Val) ref.Val {
					n, err := reference.ParseNormalizedNamed(string(a.(types.String)))
					if err != nil {
						return types.NewErr("image_repository: %s", err)
					}
					return types.String(reference.Path(n))
				}))),
	)
}

// Summary is a one-line count of results.
func Summary(results []Result) string {
	var failed []string
	for _, r := range results {
		if !r.Pass {
			failed = append(failed, r.Rule)
		}
	}
	if len(failed) == 0 {
		return fmt.Sprintf("all %d rule(s) passed", len(results))
	}
	return fmt.Sprintf("%d of %d rule(s) failed: %s", len(failed), len(results), strings.Join(failed, ", "))
}

// ErrFailed is returned (wrapped) when a rule fails.
var ErrFailed = errors.New("policy failed")

var ctyString = cty.String

// FormatDiagnostics renders diags one per line as "FILE:LINE:COL: summary:
// detail", the form editors and CI annotations jump to.
func FormatDiagnostics(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString(": ")
			b.WriteString(strings.TrimSpace(strings.ReplaceAll(d.Detail, "\n", " ")))
		}
		b.WriteString("\n")
	}
	return b.String()
}
