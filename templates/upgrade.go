package templates

import (
	"reflect"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/bake-tool/bake/templates/legacyjson"
)

// Upgrade returns the legacy JSON template src (read from filename) as
// an HCL2 template in bake fmt's layout, as Packer's hcl2_upgrade writes
// it (see legacyjson.Upgrade). The kinds say which options are nested
// blocks. Diagnostics are the JSON's: the template must read before it
// is upgraded.
func Upgrade(src []byte, filename string, kinds Kinds) ([]byte, map[string]*hcl.File, hcl.Diagnostics) {
	p := hclparse.NewParser()
	f, diags := p.ParseJSON(src, filename)
	if diags.HasErrors() {
		return nil, p.Files(), diags
	}
	t, d := legacyjson.Decode(f)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, p.Files(), diags
	}
	out := legacyjson.Upgrade(t, kinds.schema)
	formatted, d := Format(out, filename+".pkr.hcl")
	if d.HasErrors() {
		// Only a name HCL cannot write gets here; hand back the text
		// unformatted so the user sees it.
		return out, p.Files(), append(diags, d...)
	}
	return formatted, p.Files(), diags
}

// schema returns the nested-block layout of a kind's configuration, nil
// for a kind bake does not have.
func (k Kinds) schema(section, typ string) legacyjson.Schema {
	var kind Kind
	var ok bool
	switch section {
	case "source":
		kind, ok = k.Sources[typ]
	case "provisioner":
		kind, ok = k.Provisioners[typ]
	case "post-processor":
		kind, ok = k.PostProcessors[typ]
	}
	if !ok || kind.New == nil {
		return nil
	}
	t := reflect.TypeOf(kind.New())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return structSchema(t)
}

func structSchema(t reflect.Type) legacyjson.Schema {
	s := legacyjson.Schema{}
	for _, ft := range fieldTags(t) {
		if !ft.block {
			continue
		}
		bt := t.FieldByIndex(ft.index).Type
		for bt.Kind() == reflect.Pointer || bt.Kind() == reflect.Slice {
			bt = bt.Elem()
		}
		s[ft.name] = structSchema(bt)
	}
	return s
}
