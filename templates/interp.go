package templates

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/templates/interpolate"
)

// BuildTemplateFields are the build's values a provisioner's or
// post-processor's strings may use once the machine is up, as fields
// ({{ .Host }}) or through Packer's build function ({{ build "Host" }}).
var BuildTemplateFields = interpolate.Fields{"ID", "Host", "Port", "User", "Password", "SSHPublicKey", "SSHPrivateKey"}

// interpolate renders the {{ }} interpolation in the strings of val, the
// value of the attribute name (path is name with its nested blocks'
// names). It returns cty.NilVal when a string uses a value not known yet,
// and a diagnostic at the attribute, list element or map key for each
// string that is wrong.
func (d *decoder) interpolate(b *Body, name string, val cty.Value, path string) (cty.Value, hcl.Diagnostics) {
	deferred, isDeferred := d.deferred[path]
	var diags hcl.Diagnostics
	unknown := false
	render := func(top cty.Value, s string) string {
		var r string
		var err error
		if isDeferred {
			r, err = interpolate.Partial(s, d.ictx, deferred)
		} else {
			r, err = interpolate.Eval(s, d.ictx)
		}
		switch {
		case errors.Is(err, interpolate.ErrUnknown):
			unknown = true
		case err != nil:
			rng, what := b.Range(name), ""
			switch {
			case top == cty.NilVal:
			case top.Type() == cty.String:
				k := top.AsString()
				rng, what = b.KeyRange(name, k), fmt.Sprintf(" key %q", k)
			case top.Type() == cty.Number:
				i, _ := top.AsBigFloat().Int64()
				rng, what = b.ElementRange(name, int(i)), fmt.Sprintf(" element %d", i+1)
			}
			detail := fmt.Sprintf("In %q%s: %s", name, what, err)
			if !strings.HasSuffix(detail, "?") && !strings.HasSuffix(detail, ".") {
				detail += "."
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid {{ }} interpolation",
				Detail: detail, Subject: &rng})
		}
		if err != nil {
			return s
		}
		return r
	}
	out := walkStrings(val, cty.NilVal, render)
	if diags.HasErrors() {
		return val, diags
	}
	if unknown {
		return cty.NilVal, nil
	}
	return out, nil
}

// walkStrings returns v with render applied to each string in it: list,
// set and tuple elements, map and object keys and values. top is the key
// or index of v's element in the attribute's value (cty.NilVal for the
// value itself), which render is given to point at the element.
func walkStrings(v, top cty.Value, render func(top cty.Value, s string) string) cty.Value {
	if v.IsNull() || !v.IsKnown() {
		return v
	}
	if v.IsMarked() {
		uv, marks := v.Unmark()
		return walkStrings(uv, top, render).WithMarks(marks)
	}
	at := func(k cty.Value) cty.Value {
		if top == cty.NilVal {
			return k
		}
		return top
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		s := v.AsString()
		if !interpolate.Has(s) {
			return v
		}
		return cty.StringVal(render(top, s))
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		if v.LengthInt() == 0 {
			return v
		}
		var elems []cty.Value
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			elems = append(elems, walkStrings(e, at(k), render))
		}
		switch {
		case ty.IsListType():
			return cty.ListVal(elems)
		case ty.IsSetType():
			return cty.SetVal(elems)
		}
		return cty.TupleVal(elems)
	case ty.IsMapType() || ty.IsObjectType():
		if v.LengthInt() == 0 {
			return v
		}
		m := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			key := k.AsString()
			if interpolate.Has(key) {
				key = render(at(k), key)
			}
			m[key] = walkStrings(e, at(k), render)
		}
		if ty.IsMapType() {
			return cty.MapVal(m)
		}
		return cty.ObjectVal(m)
	}
	return v
}

// interpContext is the {{ }} context of a block of bs (nil: not known yet,
// as for a provisioner decoded once for all its build sources), with the
// build's values bv once the machine is up. build is set for provisioners
// and post-processors, whose strings may use the build's values.
func (p *Plan) interpContext(name, typ string, bv *BuildValues, build bool) *interpolate.Context {
	var c interpolate.Context
	if p.interp != nil {
		c = *p.interp
	}
	c.BuildName, c.BuildType = name, typ
	if build {
		c.BuildFields = BuildTemplateFields
		if bv != nil {
			c.Build = map[string]any{
				"ID": bv.ID, "Host": bv.Host, "Port": strconv.Itoa(bv.Port), "User": bv.User,
				"Password": bv.Password, "SSHPublicKey": bv.SSHPublicKey, "SSHPrivateKey": bv.SSHPrivateKey,
			}
		}
	}
	return &c
}

// newInterp returns the run's {{ }} context: the functions' fixed values.
func newInterp(opts LoadOptions, root string) *interpolate.Context {
	dir := root
	if opts.FS == nil {
		if abs, err := filepath.Abs(root); err == nil {
			dir = abs
		}
	}
	version := opts.Version
	if version == "" {
		version = PackerCompatVersion
	}
	return &interpolate.Context{Now: opts.Now, TemplateDir: dir, WorkDir: opts.WorkDir, Version: version}
}
