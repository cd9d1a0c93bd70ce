package templates

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/templates/interpolate"
	"github.com/bake-tool/bake/templates/legacyjson"
)

// isLegacyJSON reports whether the template file name is a legacy JSON
// template: a .json file that is not HCL's JSON form (*.pkr.json,
// *.bake.json), as Packer tells them apart.
func isLegacyJSON(name string) bool {
	return strings.HasSuffix(name, ".json") && !hasSuffix(name, templateSuffixes)
}

// legacy loads a legacy JSON template into the Plan the HCL2 path
// produces: each variable becomes a variable, each builder a source
// (named by its "name", else its type), and one build runs them all with
// the provisioners and post-processor sequences. Configurations decode
// with the kinds' own decoders, straight from the JSON, so diagnostics
// point at the JSON.
func (l *loader) legacy(f *hcl.File) {
	t, diags := legacyjson.Decode(f)
	l.diags = append(l.diags, diags...)
	if t.MinVersion != "" {
		req := &Requirement{Block: "packer", RequiredVersion: ">= " + t.MinVersion, Plugins: map[string]string{}, DeclRange: t.MinVersionRange}
		l.plan.Requirements = append(l.plan.Requirements, req)
		l.checkVersion("packer", req.RequiredVersion, t.MinVersionRange)
	}

	var vars hcl.Blocks
	for _, v := range t.Variables {
		attrs := hcl.Attributes{}
		if v.Default != nil {
			attrs["default"] = &hcl.Attribute{Name: "default", Expr: hcl.StaticExpr(cty.StringVal(*v.Default), v.ValueRange),
				Range: hcl.RangeBetween(v.NameRange, v.ValueRange), NameRange: v.NameRange}
		}
		if v.Sensitive {
			attrs["sensitive"] = &hcl.Attribute{Name: "sensitive", Expr: hcl.StaticExpr(cty.True, v.NameRange), Range: v.NameRange, NameRange: v.NameRange}
		}
		vars = append(vars, &hcl.Block{Type: "variable", Labels: []string{v.Name}, Body: attrsBody{attrs: attrs, rng: v.NameRange},
			DefRange: v.NameRange, TypeRange: v.NameRange, LabelRanges: []hcl.Range{v.NameRange}})
	}
	l.variables(vars, nil, nil)
	l.renderLegacyVariables()

	content := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: t.Range}
	var refs []hclsyntax.Expression
	for _, b := range t.Builders {
		name, nameRange := b.Name, b.NameRange
		if name == "" {
			name, nameRange = b.Type, b.TypeRange
		}
		n := len(l.plan.Sources)
		l.source(&hcl.Block{Type: "source", Labels: []string{b.Type, name}, LabelRanges: []hcl.Range{b.TypeRange, nameRange},
			Body: b.Body, DefRange: b.TypeRange, TypeRange: b.TypeRange})
		if len(l.plan.Sources) > n {
			refs = append(refs, &hclsyntax.LiteralValueExpr{Val: cty.StringVal("source." + b.Type + "." + name), SrcRange: b.TypeRange})
		}
	}
	if len(refs) > 0 {
		expr := &hclsyntax.TupleConsExpr{Exprs: refs, SrcRange: hcl.RangeBetween(refs[0].Range(), refs[len(refs)-1].Range())}
		content.Attributes["sources"] = &hcl.Attribute{Name: "sources", Expr: expr, Range: expr.SrcRange, NameRange: expr.SrcRange}
	}
	if t.Description != "" {
		content.Attributes["description"] = &hcl.Attribute{Name: "description", Expr: hcl.StaticExpr(cty.StringVal(t.Description), t.Range),
			Range: t.Range, NameRange: t.Range}
	}
	block := func(typ string, b *legacyjson.Block) *hcl.Block {
		return &hcl.Block{Type: typ, Labels: []string{b.Type}, LabelRanges: []hcl.Range{b.TypeRange},
			Body: b.Body, DefRange: b.TypeRange, TypeRange: b.TypeRange}
	}
	for _, p := range t.Provisioners {
		content.Blocks = append(content.Blocks, block("provisioner", p))
	}
	if p := t.ErrorCleanupProvisioner; p != nil {
		content.Blocks = append(content.Blocks, block("error-cleanup-provisioner", p))
	}
	for _, seq := range t.PostProcessors {
		if len(seq) == 1 {
			content.Blocks = append(content.Blocks, block("post-processor", seq[0]))
			continue
		}
		inner := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: seq[0].DeclRange}
		for _, pp := range seq {
			inner.Blocks = append(inner.Blocks, block("post-processor", pp))
		}
		content.Blocks = append(content.Blocks, &hcl.Block{Type: "post-processors", Body: staticBody{inner},
			DefRange: seq[0].DeclRange, TypeRange: seq[0].DeclRange})
	}
	if len(t.Builders) > 0 {
		l.build(&hcl.Block{Type: "build", Body: staticBody{content}, DefRange: t.Range, TypeRange: t.Range})
	}
	l.plan.ectx = l.rootCtx()
}

// renderLegacyVariables renders the {{ }} in the variables' values, as
// legacy Packer does: {{env `X`}} reads the environment (here only) and
// {{user `y`}} another variable's rendered value. Variables are rendered
// in passes until none is left, so a value may use one declared after it;
// the {{ }} engine then reads the final values for {{user `x`}}.
func (l *loader) renderLegacyVariables() {
	getenv := func(k string) string {
		for _, kv := range l.opts.Env {
			if name, v, ok := strings.Cut(kv, "="); ok && name == k {
				return v
			}
		}
		return ""
	}
	done := map[string]string{}
	var pending []*Variable
	for _, v := range l.plan.Variables {
		v.Type = cty.String // legacy variables are strings
		if v.Value.IsKnown() && !v.Value.IsNull() && v.Value.Type() == cty.String {
			pending = append(pending, v)
		}
	}
	for len(pending) > 0 {
		var next []*Variable
		errs := map[*Variable]error{}
		for _, v := range pending {
			ctx := *l.plan.interp
			ctx.UserVariables, ctx.Getenv = done, getenv
			r, err := interpolate.Eval(v.Value.AsString(), &ctx)
			if err != nil {
				next, errs[v] = append(next, v), err
				continue
			}
			done[v.Name] = r
			v.Value = cty.StringVal(r)
			l.vars[v.Name] = v.Value
			if v.Sensitive {
				l.plan.addSensitive(v.Value)
			}
		}
		if len(next) == len(pending) {
			for _, v := range next {
				l.errorf(v.DeclRange.Ptr(), "Invalid {{ }} interpolation", "In the variable %q: %s.", v.Name, errs[v])
				l.vars[v.Name] = cty.UnknownVal(cty.String)
			}
			break
		}
		pending = next
	}
	l.plan.interp.UserVariables = done
}

// staticBody is a body whose content is already known: the build block
// of a legacy template.
type staticBody struct{ content *hcl.BodyContent }

var _ hcl.Body = staticBody{}

func (b staticBody) Content(*hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	return b.content, nil
}

func (b staticBody) PartialContent(*hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	return b.content, staticBody{&hcl.BodyContent{MissingItemRange: b.content.MissingItemRange}}, nil
}

func (b staticBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	return b.content.Attributes, nil
}

func (b staticBody) MissingItemRange() hcl.Range { return b.content.MissingItemRange }
