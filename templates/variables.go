package templates

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"}, {Name: "nullable"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "condition", Required: true}, {Name: "error_message", Required: true},
}}

// varDecl is a declared variable while its value is being worked out.
type varDecl struct {
	v           *Variable
	defaults    *typeexpr.Defaults
	validations []*hcl.Block
	// value is the winning candidate so far.
	value  cty.Value
	setBy  string
	setRng *hcl.Range // where the value was written, nil for env/-var
	raw    bool       // value is an unparsed string from env or -var
}

// variables declares the variables, gathers their values in precedence
// order, converts and validates them, and fills l.vars.
func (l *loader) variables(blocks, legacy hcl.Blocks, autoVars []string) {
	decls := map[string]*varDecl{}
	var order []*varDecl
	fnCtx := &hcl.EvalContext{Functions: l.funcs}
	declare := func(name string, rng hcl.Range) *varDecl {
		if prev, ok := decls[name]; ok {
			l.errorf(&rng, "Duplicate variable", "The variable %q was already declared at %s.", name, prev.v.DeclRange)
			return nil
		}
		if !hclsyntax.ValidIdentifier(name) {
			l.errorf(&rng, "Invalid variable name", "%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter.", name)
			return nil
		}
		d := &varDecl{v: &Variable{Name: name, Type: cty.DynamicPseudoType, DeclRange: rng}}
		decls[name] = d
		order = append(order, d)
		return d
	}
	for _, b := range blocks {
		d := declare(b.Labels[0], b.DefRange)
		if d == nil {
			continue
		}
		content, diags := b.Body.Content(variableSchema)
		l.diags = append(l.diags, diags...)
		if a := content.Attributes["type"]; a != nil {
			ty, defs, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				d.v.Type, d.defaults = ty, defs
			}
		}
		if a := content.Attributes["description"]; a != nil {
			s, diags := stringAttr(a, nil)
			l.diags = append(l.diags, diags...)
			d.v.Description = s
		}
		if a := content.Attributes["sensitive"]; a != nil {
			v, diags := a.Expr.Value(nil)
			l.diags = append(l.diags, diags...)
			if bv, err := convert.Convert(v, cty.Bool); err == nil && bv.IsKnown() && !bv.IsNull() {
				d.v.Sensitive = bv.True()
			} else if !diags.HasErrors() {
				l.errorf(a.Expr.Range().Ptr(), "Incorrect attribute value type", "\"sensitive\" must be true or false.")
			}
		}
		if a := content.Attributes["default"]; a != nil {
			v, diags := a.Expr.Value(fnCtx)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() && !v.IsNull() {
				d.value, d.setBy, d.setRng = v, "default", a.Expr.Range().Ptr()
			}
		}
		d.validations = content.Blocks.OfType("validation")
	}
	for _, b := range legacy {
		attrs, diags := b.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		for _, name := range sortedKeys(attrs) {
			a := attrs[name]
			d := declare(name, a.Range)
			if d == nil {
				continue
			}
			v, diags := a.Expr.Value(fnCtx)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() && !v.IsNull() {
				d.value, d.setBy, d.setRng = v, "default", a.Expr.Range().Ptr()
			}
		}
	}

	// Candidates in rising precedence: each one found replaces the last.
	set := func(name string, v cty.Value, setBy string, rng *hcl.Range, raw bool) {
		d, ok := decls[name]
		if !ok {
			detail := fmt.Sprintf("A value for the variable %q is set by %s, but the template declares no such variable; the value is ignored.", name, setBy)
			if s := Suggest(name, sortedKeys(decls)); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			l.warnf(rng, "Undeclared variable", "%s", detail)
			return
		}
		d.value, d.setBy, d.setRng, d.raw = v, setBy, rng, raw
	}
	for _, prefix := range []string{"PKR_VAR_", "BAKE_VAR_"} {
		for _, kv := range l.opts.Env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || !strings.HasPrefix(k, prefix) || len(k) == len(prefix) {
				continue
			}
			set(k[len(prefix):], cty.StringVal(v), "the environment variable "+k, nil, true)
		}
	}
	for _, f := range autoVars {
		l.varFile(f, "file "+f, set)
	}
	for _, f := range l.opts.VarFiles {
		l.varFile(f, "-var-file "+f, set)
	}
	for _, kv := range l.opts.Vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			l.errorf(nil, "Invalid -var option", "-var %q is not of the form name=value.", kv)
			continue
		}
		set(strings.TrimSpace(k), cty.StringVal(v), "-var "+k, nil, true)
	}

	for _, d := range order {
		l.finishVariable(d)
		l.plan.Variables = append(l.plan.Variables, d.v)
		l.vars[d.v.Name] = d.v.Value
	}
	// Validation rules see only their own variable, but run once all are
	// known so that a failure does not hide other errors.
	for _, d := range order {
		l.validate(d)
	}
}

// varFile reads one var file (HCL or JSON attributes) and sets each value.
func (l *loader) varFile(name, setBy string, set func(string, cty.Value, string, *hcl.Range, bool)) {
	f := l.parse(name)
	if f == nil {
		return
	}
	attrs, diags := f.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	for _, n := range sortedKeys(attrs) {
		a := attrs[n]
		v, diags := a.Expr.Value(nil)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		set(n, v, setBy, a.NameRange.Ptr(), false)
	}
}

// finishVariable parses, converts and defaults the winning value.
func (l *loader) finishVariable(d *varDecl) {
	v := d.v
	v.SetBy = d.setBy
	if d.value == cty.NilVal {
		l.errorf(v.DeclRange.Ptr(), "Unset variable",
			"The variable %q has no default and no value was given: set it with -var %s=..., a -var-file, a *.auto.pkrvars.hcl file or the environment variable PKR_VAR_%s.",
			v.Name, v.Name, v.Name)
		v.Value = cty.UnknownVal(v.Type)
		return
	}
	val := d.value
	if v.Sensitive {
		l.plan.addSensitive(val) // even when it fails to convert below
	}
	where := d.setRng
	if where == nil {
		where = v.DeclRange.Ptr()
	}
	if d.raw && !(v.Type.IsPrimitiveType() || v.Type == cty.DynamicPseudoType) {
		// A structured value from the command line or environment is
		// written in HCL syntax: -var 'tags={a="b"}'.
		expr, diags := hclsyntax.ParseExpression([]byte(val.AsString()), d.setBy, hcl.InitialPos)
		if !diags.HasErrors() {
			val, diags = expr.Value(nil)
		}
		if diags.HasErrors() {
			l.errorf(where, "Invalid value for variable", "The value of %q set by %s is not a valid %s expression: %s.",
				v.Name, d.setBy, v.Type.FriendlyNameForConstraint(), diags[0].Detail)
			v.Value = cty.UnknownVal(v.Type)
			return
		}
	}
	if d.defaults != nil {
		val = d.defaults.Apply(val)
	}
	cv, err := convert.Convert(val, v.Type)
	if err != nil {
		l.errorf(where, "Invalid value for variable", "The value of %q set by %s is not suitable: %s, %s required.",
			v.Name, d.setBy, err, v.Type.FriendlyNameForConstraint())
		v.Value = cty.UnknownVal(v.Type)
		return
	}
	v.Value = cv
	if v.Sensitive {
		l.plan.addSensitive(cv)
	}
}

// validate runs a variable's validation rules.
func (l *loader) validate(d *varDecl) {
	v := d.v
	if !v.Value.IsWhollyKnown() {
		return
	}
	ectx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: v.Value})},
		Functions: l.funcs,
	}
	for _, b := range d.validations {
		content, diags := b.Body.Content(validationSchema)
		l.diags = append(l.diags, diags...)
		cond, msg := content.Attributes["condition"], content.Attributes["error_message"]
		if cond == nil || msg == nil {
			continue
		}
		badRef := false
		for _, t := range cond.Expr.Variables() {
			if t.RootName() != "var" || len(t) < 2 {
				continue
			}
			if a, ok := t[1].(hcl.TraverseAttr); ok && a.Name != v.Name {
				l.errorf(t.SourceRange().Ptr(), "Invalid reference in variable validation",
					"The condition for variable %q can only refer to the variable itself, var.%s.", v.Name, v.Name)
				badRef = true
			}
		}
		if badRef {
			continue
		}
		res, diags := cond.Expr.Value(ectx)
		if diags.HasErrors() {
			l.diags = append(l.diags, diags...)
			continue
		}
		if !res.IsKnown() {
			continue
		}
		bv, err := convert.Convert(res, cty.Bool)
		if err != nil || bv.IsNull() {
			l.errorf(cond.Expr.Range().Ptr(), "Invalid validation condition", "The condition must be true or false, not %s.", res.Type().FriendlyName())
			continue
		}
		if bv.True() {
			continue
		}
		text, mdiags := stringAttr(msg, &hcl.EvalContext{Functions: l.funcs})
		l.diags = append(l.diags, mdiags...)
		where := d.setRng
		if where == nil {
			where = cond.Expr.Range().Ptr()
		}
		l.errorf(where, "Invalid value for variable", "%s\n\nThe value of var.%s (set by %s) failed the validation rule at %s.",
			text, v.Name, d.setBy, cond.Expr.Range())
	}
}
