package templates

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// overlayBody is base with the attributes and nested block types written
// in over replacing base's: how a build-level source block or a
// provisioner's override changes a configuration.
type overlayBody struct{ base, over hcl.Body }

var _ hcl.Body = overlayBody{}

func (b overlayBody) Content(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	bc, d1 := b.base.Content(s)
	oc, d2 := b.over.Content(s)
	return mergeContent(bc, oc), append(d1, d2...)
}

func (b overlayBody) PartialContent(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	bc, br, d1 := b.base.PartialContent(s)
	oc, or, d2 := b.over.PartialContent(s)
	return mergeContent(bc, oc), overlayBody{br, or}, append(d1, d2...)
}

func (b overlayBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	ba, d1 := b.base.JustAttributes()
	oa, d2 := b.over.JustAttributes()
	out := hcl.Attributes{}
	for k, v := range ba {
		out[k] = v
	}
	for k, v := range oa {
		out[k] = v
	}
	return out, append(d1, d2...)
}

func (b overlayBody) MissingItemRange() hcl.Range { return b.base.MissingItemRange() }

func mergeContent(base, over *hcl.BodyContent) *hcl.BodyContent {
	if base == nil {
		return over
	}
	if over == nil {
		return base
	}
	out := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: base.MissingItemRange}
	for k, v := range base.Attributes {
		out.Attributes[k] = v
	}
	for k, v := range over.Attributes {
		out.Attributes[k] = v
	}
	replaced := map[string]bool{}
	for _, blk := range over.Blocks {
		replaced[blk.Type] = true
	}
	for _, blk := range base.Blocks {
		if !replaced[blk.Type] {
			out.Blocks = append(out.Blocks, blk)
		}
	}
	out.Blocks = append(out.Blocks, over.Blocks...)
	return out
}

// attrsBody is a body made of attributes only: a provisioner's override
// entry for one source.
type attrsBody struct {
	attrs hcl.Attributes
	rng   hcl.Range
}

var _ hcl.Body = attrsBody{}

func (b attrsBody) Content(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	c, rest, diags := b.PartialContent(s)
	known := make([]string, 0, len(s.Attributes))
	for _, a := range s.Attributes {
		known = append(known, a.Name)
	}
	for _, name := range sortedKeys(rest.(attrsBody).attrs) {
		a := rest.(attrsBody).attrs[name]
		detail := fmt.Sprintf("An argument named %q is not expected here.", name)
		if sug := Suggest(name, known); sug != "" {
			detail += fmt.Sprintf(" Did you mean %q?", sug)
		}
		r := a.NameRange
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument", Detail: detail, Subject: &r})
	}
	return c, diags
}

func (b attrsBody) PartialContent(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	c := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: b.rng}
	rest := attrsBody{attrs: hcl.Attributes{}, rng: b.rng}
	want := map[string]bool{}
	for _, a := range s.Attributes {
		want[a.Name] = true
	}
	for name, a := range b.attrs {
		if want[name] {
			c.Attributes[name] = a
		} else {
			rest.attrs[name] = a
		}
	}
	return c, rest, nil
}

func (b attrsBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) { return b.attrs, nil }

func (b attrsBody) MissingItemRange() hcl.Range { return b.rng }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// walkTraversals calls fn for every variable reference in body and its
// nested blocks. Only native-syntax bodies can be walked without a
// schema; JSON bodies are skipped (their references are still checked
// when they are evaluated).
func walkTraversals(body hcl.Body, fn func(hcl.Traversal)) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return
	}
	for _, name := range sortedKeys(sb.Attributes) {
		for _, t := range sb.Attributes[name].Expr.Variables() {
			fn(t)
		}
	}
	for _, blk := range sb.Blocks {
		walkTraversals(blk.Body, fn)
	}
}

// stringList evaluates expr as a list of strings, returning each element
// with the range to point a diagnostic about it at.
func stringList(expr hcl.Expression, ectx *hcl.EvalContext, what string) ([]string, []hcl.Range, hcl.Diagnostics) {
	var exprs []hcl.Expression
	if tup, ok := expr.(*hclsyntax.TupleConsExpr); ok {
		for _, e := range tup.Exprs {
			exprs = append(exprs, e)
		}
	} else {
		val, diags := expr.Value(ectx)
		if diags.HasErrors() {
			return nil, nil, diags
		}
		lv, err := convert.Convert(val, cty.List(cty.String))
		if err != nil || !lv.IsWhollyKnown() || lv.IsNull() {
			r := expr.Range()
			return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
				Detail: fmt.Sprintf("%s must be a list of strings.", what), Subject: &r}}
		}
		var out []string
		var rngs []hcl.Range
		for _, v := range lv.AsValueSlice() {
			out = append(out, v.AsString())
			rngs = append(rngs, expr.Range())
		}
		return out, rngs, nil
	}
	var out []string
	var rngs []hcl.Range
	var diags hcl.Diagnostics
	for _, e := range exprs {
		v, d := e.Value(ectx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		sv, err := convert.Convert(v, cty.String)
		if err != nil || !sv.IsKnown() || sv.IsNull() {
			r := e.Range()
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
				Detail: fmt.Sprintf("Each element of %s must be a string.", what), Subject: &r})
			continue
		}
		out = append(out, sv.AsString())
		rngs = append(rngs, e.Range())
	}
	return out, rngs, diags
}

// stringAttr evaluates an optional string attribute.
func stringAttr(attr *hcl.Attribute, ectx *hcl.EvalContext) (string, hcl.Diagnostics) {
	if attr == nil {
		return "", nil
	}
	v, diags := attr.Expr.Value(ectx)
	if diags.HasErrors() {
		return "", diags
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil || !sv.IsKnown() || sv.IsNull() {
		r := attr.Expr.Range()
		return "", append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
			Detail: fmt.Sprintf("%q must be a known string.", attr.Name), Subject: &r})
	}
	return sv.AsString(), diags
}

// labelRange returns the range of block's i-th label, or its header.
func labelRange(b *hcl.Block, i int) *hcl.Range {
	if i < len(b.LabelRanges) {
		r := b.LabelRanges[i]
		return &r
	}
	r := b.DefRange
	return &r
}
