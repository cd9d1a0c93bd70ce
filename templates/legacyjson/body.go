package legacyjson

import (
	"fmt"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// body is a JSON object as an hcl.Body: a member is an attribute or a
// nested block as the schema asks (a block is an object or a list of
// objects), and every value evaluates literally.
type body struct {
	fields []*Field
	hidden map[string]bool
	rng    hcl.Range
}

var _ hcl.Body = (*body)(nil)

func (b *body) Content(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	c, rest, diags := b.PartialContent(s)
	var known []string
	for _, a := range s.Attributes {
		known = append(known, a.Name)
	}
	for _, bl := range s.Blocks {
		known = append(known, bl.Type)
	}
	for _, f := range rest.(*body).visible() {
		detail := fmt.Sprintf("An argument named %q is not expected here.", f.Name)
		if sug := suggest(f.Name, known); sug != "" {
			detail += fmt.Sprintf(" Did you mean %q?", sug)
		}
		diags = append(diags, errorAt(f.NameRange, "Unsupported argument", detail))
	}
	return c, diags
}

func (b *body) visible() []*Field {
	var out []*Field
	for _, f := range b.fields {
		if !b.hidden[f.Name] {
			out = append(out, f)
		}
	}
	return out
}

func (b *body) PartialContent(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	c := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: b.rng}
	var diags hcl.Diagnostics
	attrs := map[string]hcl.AttributeSchema{}
	for _, a := range s.Attributes {
		attrs[a.Name] = a
	}
	blocks := map[string]hcl.BlockHeaderSchema{}
	for _, bl := range s.Blocks {
		blocks[bl.Type] = bl
	}
	hidden := map[string]bool{}
	for k := range b.hidden {
		hidden[k] = true
	}
	present := map[string]bool{}
	for _, f := range b.visible() {
		if _, ok := attrs[f.Name]; ok {
			c.Attributes[f.Name] = &hcl.Attribute{Name: f.Name, Expr: literal{f.Expr},
				Range: hcl.RangeBetween(f.NameRange, f.Expr.Range()), NameRange: f.NameRange}
			hidden[f.Name], present[f.Name] = true, true
			continue
		}
		bs, ok := blocks[f.Name]
		if !ok {
			continue
		}
		hidden[f.Name], present[f.Name] = true, true
		if len(bs.LabelNames) > 0 {
			diags = append(diags, errorAt(f.NameRange, "Unsupported block", fmt.Sprintf("The block %q takes labels, which a legacy JSON template cannot write.", f.Name)))
			continue
		}
		elems := []hcl.Expression{f.Expr}
		if l, d := hcl.ExprList(f.Expr); !d.HasErrors() {
			elems = l
		}
		for _, e := range elems {
			fields, d := object(e, fmt.Sprintf("%q", f.Name))
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			c.Blocks = append(c.Blocks, &hcl.Block{Type: f.Name, Body: &body{fields: fields, rng: e.Range()},
				DefRange: f.NameRange, TypeRange: f.NameRange})
		}
	}
	for _, a := range s.Attributes {
		if a.Required && !present[a.Name] {
			diags = append(diags, errorAt(b.rng, "Missing required argument", fmt.Sprintf("The argument %q is required.", a.Name)))
		}
	}
	return c, &body{fields: b.fields, hidden: hidden, rng: b.rng}, diags
}

func (b *body) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	out := hcl.Attributes{}
	for _, f := range b.visible() {
		out[f.Name] = &hcl.Attribute{Name: f.Name, Expr: literal{f.Expr},
			Range: hcl.RangeBetween(f.NameRange, f.Expr.Range()), NameRange: f.NameRange}
	}
	return out, nil
}

func (b *body) MissingItemRange() hcl.Range { return b.rng }

// literal is a JSON value that evaluates as written, whatever the
// context: legacy JSON strings have no ${ } syntax.
type literal struct{ e hcl.Expression }

var _ hcl.Expression = literal{}

// Literal returns e, a JSON value, as an expression that evaluates as
// written in any context.
func Literal(e hcl.Expression) hcl.Expression { return literal{e} }

func (l literal) Value(*hcl.EvalContext) (cty.Value, hcl.Diagnostics) { return l.e.Value(nil) }
func (l literal) Variables() []hcl.Traversal                          { return nil }
func (l literal) Range() hcl.Range                                    { return l.e.Range() }
func (l literal) StartRange() hcl.Range                               { return l.e.StartRange() }

// ExprList lets hcl.ExprList see the elements, each with its range.
func (l literal) ExprList() []hcl.Expression {
	elems, diags := hcl.ExprList(l.e)
	if diags.HasErrors() {
		return nil
	}
	out := make([]hcl.Expression, len(elems))
	for i, e := range elems {
		out[i] = literal{e}
	}
	return out
}

// ExprMap lets hcl.ExprMap see the members, each with its range.
func (l literal) ExprMap() []hcl.KeyValuePair {
	if !isObject(l.e) {
		return nil
	}
	pairs, diags := hcl.ExprMap(l.e)
	if diags.HasErrors() {
		return nil
	}
	out := make([]hcl.KeyValuePair, len(pairs))
	for i, kv := range pairs {
		out[i] = hcl.KeyValuePair{Key: literal{kv.Key}, Value: literal{kv.Value}}
	}
	return out
}

// suggest returns the name in names closest to s, "" when none is close.
func suggest(s string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if d := levenshtein.Distance(s, n, nil); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}
