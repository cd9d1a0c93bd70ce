package legacyjson

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Template is a legacy JSON template as written.
type Template struct {
	Description string
	// MinVersion is min_packer_version, "" when not set.
	MinVersion      string
	MinVersionRange hcl.Range
	// Variables are the "variables" entries in the order written.
	Variables []*Variable
	// Builders are the "builders" entries in the order written.
	Builders []*Block
	// Provisioners are the "provisioners" entries in order.
	Provisioners []*Block
	// ErrorCleanupProvisioner is "error-cleanup-provisioner", nil when
	// not set.
	ErrorCleanupProvisioner *Block
	// PostProcessors are the post-processor sequences: a lone entry (a
	// type name or an object) is a sequence of one.
	PostProcessors [][]*Block
	// Range is the whole document.
	Range hcl.Range

	src []byte // the JSON, for numbers as written
}

// Variable is one entry of "variables".
type Variable struct {
	Name string
	// Default is the value as a string (legacy variables are strings),
	// nil when written null: the variable is then required.
	Default   *string
	Sensitive bool
	NameRange hcl.Range
	// ValueRange is where the default is written.
	ValueRange hcl.Range
}

// Block is one builder, provisioner or post-processor.
type Block struct {
	// Type is the "type" value.
	Type string
	// Name is a builder's "name" ("" when not set). Provisioners and
	// post-processors keep their meta keys (only, except, override, name,
	// pause_before, timeout, max_retries, keep_input_artifact) in Fields
	// and Body.
	Name      string
	TypeRange hcl.Range
	NameRange hcl.Range
	// DeclRange is the JSON object (or the type string of a
	// post-processor written as one).
	DeclRange hcl.Range
	// Fields are the object's members as written, without "type" (and a
	// builder's "name").
	Fields []*Field
	// Body is Fields as an hcl.Body.
	Body hcl.Body
}

// Field is one member of a JSON object.
type Field struct {
	Name      string
	NameRange hcl.Range
	// Expr is the value; it evaluates literally (no ${ } in strings).
	Expr hcl.Expression
}

// rootKeys are the top-level keys of a legacy template; a key starting
// with "_" is a comment, as in Packer.
var rootKeys = []string{"builders", "provisioners", "post-processors", "variables", "sensitive-variables",
	"min_packer_version", "description", "error-cleanup-provisioner", "comments", "push"}

// IsLegacy reports whether src looks like a legacy template: a JSON
// object with a "builders" key at the top level.
func IsLegacy(f *hcl.File) bool {
	attrs, _ := f.Body.JustAttributes()
	_, ok := attrs["builders"]
	return ok
}

// Decode reads the legacy template f, parsed with hcl's JSON parser
// (hclparse.Parser.ParseJSON). Every problem is a diagnostic at the JSON
// key or value; the Template holds what could be read.
func Decode(f *hcl.File) (*Template, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	end := f.Body.MissingItemRange()
	t := &Template{Range: hcl.Range{Filename: end.Filename, Start: hcl.InitialPos, End: end.End}, src: f.Bytes}
	attrs, d := f.Body.JustAttributes()
	diags = append(diags, d...)
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return attrs[names[i]].Range.Start.Byte < attrs[names[j]].Range.Start.Byte })
	var sensitive []*Field
	for _, name := range names {
		a := attrs[name]
		switch name {
		case "description":
			t.Description, d = stringValue(a.Expr, "description")
			diags = append(diags, d...)
		case "min_packer_version":
			t.MinVersion, d = stringValue(a.Expr, "min_packer_version")
			t.MinVersionRange = a.Expr.Range()
			diags = append(diags, d...)
		case "variables":
			fields, d := object(a.Expr, "variables")
			diags = append(diags, d...)
			for _, f := range fields {
				v := &Variable{Name: f.Name, NameRange: f.NameRange, ValueRange: f.Expr.Range()}
				val, d := f.Expr.Value(nil)
				diags = append(diags, d...)
				if d.HasErrors() {
					continue
				}
				if !val.IsNull() && val.Type() == cty.Number {
					// As Packer's JSON decoding: a float64, written as
					// mapstructure writes it.
					n, _ := val.AsBigFloat().Float64()
					if math.IsInf(n, 0) {
						diags = append(diags, errorAt(f.Expr.Range(), "Invalid variable default",
							fmt.Sprintf("The default of the variable %q is too large a number.", f.Name)))
						continue
					}
					val = cty.StringVal(strconv.FormatFloat(n, 'f', -1, 64))
				}
				if !val.IsNull() {
					sv, err := convert.Convert(val, cty.String)
					if err != nil {
						diags = append(diags, errorAt(f.Expr.Range(), "Invalid variable default",
							fmt.Sprintf("The default of the variable %q must be a string, number or boolean, not %s.", f.Name, val.Type().FriendlyName())))
						continue
					}
					s := sv.AsString()
					v.Default = &s
				}
				t.Variables = append(t.Variables, v)
			}
		case "sensitive-variables":
			elems, d := list(a.Expr, "sensitive-variables")
			diags = append(diags, d...)
			for _, e := range elems {
				s, d := stringValue(e, "each sensitive-variables entry")
				diags = append(diags, d...)
				if !d.HasErrors() {
					sensitive = append(sensitive, &Field{Name: s, NameRange: e.Range(), Expr: e})
				}
			}
		case "builders":
			elems, d := list(a.Expr, "builders")
			diags = append(diags, d...)
			for _, e := range elems {
				b, d := block(e, "builder", true)
				diags = append(diags, d...)
				if b != nil {
					t.Builders = append(t.Builders, b)
				}
			}
		case "provisioners":
			elems, d := list(a.Expr, "provisioners")
			diags = append(diags, d...)
			for _, e := range elems {
				b, d := block(e, "provisioner", false)
				diags = append(diags, d...)
				if b != nil {
					t.Provisioners = append(t.Provisioners, b)
				}
			}
		case "error-cleanup-provisioner":
			b, d := block(a.Expr, "error-cleanup-provisioner", false)
			diags = append(diags, d...)
			t.ErrorCleanupProvisioner = b
		case "post-processors":
			elems, d := list(a.Expr, "post-processors")
			diags = append(diags, d...)
			for _, e := range elems {
				seq, d := postProcessors(e)
				diags = append(diags, d...)
				if len(seq) > 0 {
					t.PostProcessors = append(t.PostProcessors, seq)
				}
			}
		case "comments", "push":
			// Packer reads and ignores them.
		default:
			if strings.HasPrefix(name, "_") {
				continue
			}
			detail := fmt.Sprintf("A legacy JSON template has no top-level key %q.", name)
			if s := suggest(name, rootKeys); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			diags = append(diags, errorAt(a.NameRange, "Unknown root level key", detail))
		}
	}
	if _, ok := attrs["builders"]; !ok {
		diags = append(diags, errorAt(t.Range, "No builders", "A legacy JSON template needs a \"builders\" list with at least one builder."))
	}
	byName := map[string]*Variable{}
	for _, v := range t.Variables {
		byName[v.Name] = v
	}
	for _, s := range sensitive {
		v, ok := byName[s.Name]
		if !ok {
			diags = append(diags, errorAt(s.NameRange, "Unknown sensitive variable",
				fmt.Sprintf("sensitive-variables names %q, which is not in \"variables\".", s.Name)))
			continue
		}
		v.Sensitive = true
	}
	return t, diags
}

func errorAt(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

func stringValue(e hcl.Expression, what string) (string, hcl.Diagnostics) {
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		return "", diags
	}
	if v.IsNull() || v.Type() != cty.String {
		return "", hcl.Diagnostics{errorAt(e.Range(), "Incorrect value type", fmt.Sprintf("%s must be a string.", upperFirst(what)))}
	}
	return v.AsString(), nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// list returns the elements of a JSON array.
func list(e hcl.Expression, what string) ([]hcl.Expression, hcl.Diagnostics) {
	elems, diags := hcl.ExprList(e)
	if diags.HasErrors() {
		return nil, hcl.Diagnostics{errorAt(e.Range(), "Incorrect value type", fmt.Sprintf("%q must be a list.", what))}
	}
	return elems, nil
}

// object returns the members of a JSON object in the order written.
func object(e hcl.Expression, what string) ([]*Field, hcl.Diagnostics) {
	if !isObject(e) {
		return nil, hcl.Diagnostics{errorAt(e.Range(), "Incorrect value type", fmt.Sprintf("%s must be an object.", upperFirst(what)))}
	}
	pairs, diags := hcl.ExprMap(e)
	if diags.HasErrors() {
		return nil, diags
	}
	var out []*Field
	seen := map[string]hcl.Range{}
	for _, kv := range pairs {
		k, d := kv.Key.Value(nil)
		diags = append(diags, d...)
		if d.HasErrors() || k.IsNull() || k.Type() != cty.String {
			continue
		}
		name := k.AsString()
		if prev, ok := seen[name]; ok {
			diags = append(diags, errorAt(kv.Key.Range(), "Duplicate key",
				fmt.Sprintf("The key %q is already set at %s.", name, prev)))
			continue
		}
		seen[name] = kv.Key.Range()
		out = append(out, &Field{Name: name, NameRange: kv.Key.Range(), Expr: kv.Value})
	}
	return out, diags
}

// isObject reports whether e is written as a JSON object.
func isObject(e hcl.Expression) bool {
	_, diags := hcl.ExprMap(e)
	return !diags.HasErrors()
}

// block reads a builder's, provisioner's or post-processor's object.
func block(e hcl.Expression, what string, builder bool) (*Block, hcl.Diagnostics) {
	fields, diags := object(e, "each "+what)
	if diags.HasErrors() {
		return nil, diags
	}
	b := &Block{DeclRange: e.Range()}
	hasType := false
	for _, f := range fields {
		switch {
		case f.Name == "type":
			s, d := stringValue(f.Expr, what+" type")
			diags = append(diags, d...)
			b.Type, b.TypeRange, hasType = s, f.Expr.Range(), !d.HasErrors()
		case f.Name == "name" && builder:
			s, d := stringValue(f.Expr, "builder name")
			diags = append(diags, d...)
			b.Name, b.NameRange = s, f.Expr.Range()
		default:
			b.Fields = append(b.Fields, f)
		}
	}
	if !hasType {
		if !diags.HasErrors() {
			diags = append(diags, errorAt(e.Range(), "Missing type", fmt.Sprintf("Each %s needs a \"type\".", what)))
		}
		return nil, diags
	}
	if b.Type == "" {
		diags = append(diags, errorAt(b.TypeRange, "Missing type", fmt.Sprintf("Each %s needs a \"type\".", what)))
		return nil, diags
	}
	b.Body = &body{fields: b.Fields, rng: e.Range()}
	return b, diags
}

// postProcessors reads one "post-processors" entry: a type name, an
// object, or a sequence of those.
func postProcessors(e hcl.Expression) ([]*Block, hcl.Diagnostics) {
	one := func(e hcl.Expression) (*Block, hcl.Diagnostics) {
		v, diags := e.Value(nil)
		if diags.HasErrors() {
			return nil, diags
		}
		if !v.IsNull() && v.Type() == cty.String {
			if v.AsString() == "" {
				return nil, hcl.Diagnostics{errorAt(e.Range(), "Missing type", "A post-processor needs a type.")}
			}
			return &Block{Type: v.AsString(), TypeRange: e.Range(), DeclRange: e.Range(), Body: &body{rng: e.Range()}}, nil
		}
		return block(e, "post-processor", false)
	}
	if elems, d := hcl.ExprList(e); !d.HasErrors() {
		var out []*Block
		var diags hcl.Diagnostics
		for _, el := range elems {
			if _, d := hcl.ExprList(el); !d.HasErrors() {
				diags = append(diags, errorAt(el.Range(), "Invalid post-processor",
					"A post-processor sequence cannot hold another sequence."))
				continue
			}
			b, d := one(el)
			diags = append(diags, d...)
			if b != nil {
				out = append(out, b)
			}
		}
		return out, diags
	}
	b, diags := one(e)
	if b == nil {
		return nil, diags
	}
	return []*Block{b}, diags
}
