package templates

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// ConsoleFilename names the input of Eval in its diagnostics.
const ConsoleFilename = "<console-input>"

// Eval evaluates src, one HCL expression, as the template's top-level
// expressions see it: var, local, data, path, packer and the functions
// (data sources unknown unless Load executed them). sensitive reports
// that the expression refers to a sensitive variable or local, so that
// the caller can hide the value.
func (p *Plan) Eval(src string) (val cty.Value, sensitive bool, diags hcl.Diagnostics) {
	expr, diags := hclsyntax.ParseExpression([]byte(src), ConsoleFilename, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, false, diags
	}
	hidden := map[string]bool{}
	for _, v := range p.Variables {
		if v.Sensitive {
			hidden["var."+v.Name] = true
		}
	}
	for _, l := range p.Locals {
		if l.Sensitive {
			hidden["local."+l.Name] = true
		}
	}
	for _, t := range expr.Variables() {
		if len(t) < 2 {
			// var or local as a whole holds the sensitive ones.
			if n := t.RootName(); n == "var" || n == "local" {
				sensitive = sensitive || len(hidden) > 0
			}
			continue
		}
		switch a := t[1].(type) {
		case hcl.TraverseAttr:
			sensitive = sensitive || hidden[t.RootName()+"."+a.Name]
		case hcl.TraverseIndex:
			if a.Key.Type() == cty.String && a.Key.IsKnown() {
				sensitive = sensitive || hidden[t.RootName()+"."+a.Key.AsString()]
			} else {
				sensitive = sensitive || len(hidden) > 0 // var[x]: any of them
			}
		}
	}
	ectx := p.ectx
	if ectx == nil {
		ectx = &hcl.EvalContext{}
	}
	val, vdiags := expr.Value(ectx)
	return val, sensitive, append(diags, vdiags...)
}
