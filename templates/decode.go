package templates

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"

	"github.com/bake-tool/bake/templates/interpolate"
)

// Body records where each attribute and nested block of a decoded block
// came from, so that Prepare can point its diagnostics at the attribute.
type Body struct {
	// Type is the block's kind ("docker", "shell", ...).
	Type string
	// Name is the block's name label (the "x" of source "docker" "x"), when
	// it has one. The loader sets it before Prepare, which uses it for
	// defaults such as qemu's output_directory "output-<name>".
	Name string
	// DefRange is the block's header ("source "docker" "x"").
	DefRange hcl.Range
	// Attrs holds each attribute that was set, by name.
	Attrs map[string]*hcl.Attribute
	// Blocks holds each nested block that was present, by type, in order.
	Blocks map[string][]*Body
	// Unknown names the attributes whose value is not known yet (they
	// depend on build.* values only known while the build runs). Decode
	// leaves their fields at the zero value; Prepare must not judge them.
	Unknown map[string]bool
	// Invalid names the attributes whose value could not be decoded (a
	// wrong type, a failed expression); Decode already reported them, so
	// Known is false for them and Prepare does not judge them again.
	Invalid map[string]bool
}

// Has reports whether the attribute or nested block name was written.
func (b *Body) Has(name string) bool {
	if b == nil {
		return false
	}
	if _, ok := b.Attrs[name]; ok {
		return true
	}
	return len(b.Blocks[name]) > 0
}

// IsUnknown reports whether the attribute's value is not yet known.
func (b *Body) IsUnknown(name string) bool { return b != nil && b.Unknown[name] }

// Known reports whether the attribute name was written, decoded and its
// value is known, i.e. whether Prepare can judge it now.
func (b *Body) Known(name string) bool {
	return b.Has(name) && !b.IsUnknown(name) && !b.Invalid[name]
}

// ElementRange returns the range of the i-th element of the list attribute
// name when the template wrote it as a literal list, else Range(name).
func (b *Body) ElementRange(name string, i int) hcl.Range {
	if a, ok := b.Attrs[name]; ok {
		if elems, diags := hcl.ExprList(a.Expr); !diags.HasErrors() && i >= 0 && i < len(elems) {
			return elems[i].Range()
		}
	}
	return b.Range(name)
}

// KeyRange returns the range of the key "key" of the map attribute name
// when the template wrote it as a literal object, else Range(name).
func (b *Body) KeyRange(name, key string) hcl.Range {
	if a, ok := b.Attrs[name]; ok {
		if pairs, diags := hcl.ExprMap(a.Expr); !diags.HasErrors() {
			for _, kv := range pairs {
				k := hcl.ExprAsKeyword(kv.Key)
				if k == "" {
					if v, d := kv.Key.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
						k = v.AsString()
					}
				}
				if k == key {
					return kv.Key.Range()
				}
			}
		}
	}
	return b.Range(name)
}

// ElementErrorf returns an error diagnostic about the i-th element of the
// list attribute name (see ElementRange).
func (b *Body) ElementErrorf(name string, i int, summary, format string, args ...any) *hcl.Diagnostic {
	r := b.ElementRange(name, i)
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: &r}
}

// KeyErrorf returns an error diagnostic about the key "key" of the map
// attribute name (see KeyRange).
func (b *Body) KeyErrorf(name, key, summary, format string, args ...any) *hcl.Diagnostic {
	r := b.KeyRange(name, key)
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: &r}
}

// Warningf is Warning with a formatted detail.
func (b *Body) Warningf(name, summary, format string, args ...any) *hcl.Diagnostic {
	return b.Warning(name, summary, fmt.Sprintf(format, args...))
}

// Range returns the range a diagnostic about name should point at: the
// attribute's expression, the nested block's header, or the block's own
// header when name was not written.
func (b *Body) Range(name string) hcl.Range {
	if a, ok := b.Attrs[name]; ok {
		return a.Expr.Range()
	}
	if bs := b.Blocks[name]; len(bs) > 0 {
		return bs[0].DefRange
	}
	return b.DefRange
}

// Error returns an error diagnostic about the attribute or block name.
func (b *Body) Error(name, summary, detail string) *hcl.Diagnostic {
	r := b.Range(name)
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &r}
}

// Errorf is Error with a formatted detail.
func (b *Body) Errorf(name, summary, format string, args ...any) *hcl.Diagnostic {
	return b.Error(name, summary, fmt.Sprintf(format, args...))
}

// Warning returns a warning diagnostic about the attribute or block name.
func (b *Body) Warning(name, summary, detail string) *hcl.Diagnostic {
	d := b.Error(name, summary, detail)
	d.Severity = hcl.DiagWarning
	return d
}

// Required appends a "Missing required option" diagnostic for each name
// that was neither written nor is unknown.
func (b *Body) Required(diags hcl.Diagnostics, names ...string) hcl.Diagnostics {
	for _, n := range names {
		if !b.Has(n) && !b.IsUnknown(n) {
			diags = append(diags, b.Errorf(n, "Missing required option",
				"The %s %q needs the option %q.", "block", b.Type, n))
		}
	}
	return diags
}

// ExactlyOne appends a diagnostic unless exactly one of names was written.
func (b *Body) ExactlyOne(diags hcl.Diagnostics, names ...string) hcl.Diagnostics {
	var set []string
	for _, n := range names {
		if b.Has(n) {
			set = append(set, n)
		}
	}
	quoted := quoteAll(names)
	switch {
	case len(set) == 0:
		return append(diags, b.Errorf("", "Missing required option",
			"The %s block needs exactly one of %s.", b.Type, strings.Join(quoted, ", ")))
	case len(set) > 1:
		return append(diags, b.Errorf(set[1], "Conflicting options",
			"The %s block takes only one of %s, but %s are all set.", b.Type,
			strings.Join(quoted, ", "), strings.Join(quoteAll(set), " and ")))
	}
	return diags
}

// AtMostOne appends a diagnostic when more than one of names was written.
func (b *Body) AtMostOne(diags hcl.Diagnostics, names ...string) hcl.Diagnostics {
	var set []string
	for _, n := range names {
		if b.Has(n) {
			set = append(set, n)
		}
	}
	if len(set) > 1 {
		diags = append(diags, b.Errorf(set[1], "Conflicting options",
			"The %s block takes at most one of %s, but %s are all set.", b.Type,
			strings.Join(quoteAll(names), ", "), strings.Join(quoteAll(set), " and ")))
	}
	return diags
}

// OneOf appends an "Invalid value" diagnostic when the attribute name is set
// to a value outside allowed.
func (b *Body) OneOf(diags hcl.Diagnostics, name, value string, allowed ...string) hcl.Diagnostics {
	if !b.Has(name) || b.IsUnknown(name) {
		return diags
	}
	for _, a := range allowed {
		if a == value {
			return diags
		}
	}
	detail := fmt.Sprintf("%q is not a valid value for %q; it must be one of %s.", value, name, strings.Join(quoteAll(allowed), ", "))
	if s := Suggest(value, allowed); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	}
	return append(diags, b.Error(name, "Invalid value", detail))
}

func quoteAll(names []string) []string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return q
}

// CheckReadable returns nil when path names something Prepare may rely on
// being there: a readable file, or also a directory when dirOK. Otherwise
// it returns an error worded for the user ("no such file ...").
func CheckReadable(path string, dirOK bool) error {
	f, err := os.Open(ExpandHome(path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("there is no file %q", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%q cannot be read (permission denied)", path)
	case err != nil:
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() && !dirOK {
		return fmt.Errorf("%q is a directory, not a file", path)
	}
	return nil
}

// CheckTextTemplate appends an "Invalid template" diagnostic when the
// known attribute name does not parse as what the kind renders with
// interpolate.Render, Packer's {{ }} syntax of execute_command and output
// options ("{{.Vars}} {{.Path}}").
func (b *Body) CheckTextTemplate(diags hcl.Diagnostics, name, text string) hcl.Diagnostics {
	if !b.Known(name) {
		return diags
	}
	if err := interpolate.Parses(text); err != nil {
		diags = append(diags, b.Errorf(name, "Invalid template", "%q is not a valid template: %s.", name, err))
	}
	return diags
}

// ExpandHome replaces a leading "~/" in path with the user's home
// directory, as a shell would.
func ExpandHome(path string) string {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return path
	}
	return filepath.Join(home, path[1:])
}

// Size is a byte count written as a number of mebibytes (Packer's
// convention for disk sizes) or a string with a unit suffix: "512M", "10G",
// "1T", "4096K", "100B".
type Size int64

// ParseSize parses a size as Size documents.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := int64(1 << 20)
	last := strings.ToUpper(t[len(t)-1:])
	t2 := strings.TrimSuffix(strings.TrimSuffix(t, "iB"), "ib")
	if t2 == "" {
		return 0, fmt.Errorf("%q is not a size: write a whole number of mebibytes or a number with a unit, like \"512M\" or \"10G\"", s)
	}
	if t2 != t {
		last = strings.ToUpper(t2[len(t2)-1:])
		t = t2
	}
	switch last {
	case "B":
		mult, t = 1, t[:len(t)-1]
	case "K":
		mult, t = 1<<10, t[:len(t)-1]
	case "M":
		mult, t = 1<<20, t[:len(t)-1]
	case "G":
		mult, t = 1<<30, t[:len(t)-1]
	case "T":
		mult, t = 1<<40, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size: write a whole number of mebibytes or a number with a unit, like \"512M\" or \"10G\"", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large a size", s)
	}
	return Size(n * mult), nil
}

// MiB returns the size in whole mebibytes, rounded up.
func (s Size) MiB() int64 { return (int64(s) + (1<<20 - 1)) >> 20 }

// String writes the size for people, in the binary units ParseSize reads:
// "512 B", "1.5 KiB", "10.0 GiB".
func (s Size) String() string {
	const units = "KMGTPE"
	n := int64(s)
	if n < 1<<10 && n > -1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/(1<<10), 0
	for ; (f >= 1<<10 || f <= -1<<10) && i < len(units)-1; i++ {
		f /= 1 << 10
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	sizeType     = reflect.TypeOf(Size(0))
	ctyValueType = reflect.TypeOf(cty.Value{})
	exprType     = reflect.TypeOf((*hcl.Expression)(nil)).Elem()
)

type fieldTag struct {
	name     string
	required bool
	block    bool
	index    []int
}

// fieldTags lists the tagged fields of t; the fields of an embedded struct
// without a tag are flattened into t's (so builders can embed a shared
// communicator config).
func fieldTags(t reflect.Type) []fieldTag {
	var tags []fieldTag
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("hcl")
		if !ok && f.Anonymous && f.Type.Kind() == reflect.Struct {
			for _, inner := range fieldTags(f.Type) {
				inner.index = append([]int{i}, inner.index...)
				tags = append(tags, inner)
			}
			continue
		}
		if !ok || !f.IsExported() {
			continue
		}
		parts := strings.Split(tag, ",")
		ft := fieldTag{name: parts[0], index: []int{i}}
		for _, p := range parts[1:] {
			switch p {
			case "required":
				ft.required = true
			case "block":
				ft.block = true
			case "optional", "attr":
			default:
				panic(fmt.Sprintf("templates: unknown hcl tag option %q on %s.%s", p, t, f.Name))
			}
		}
		tags = append(tags, ft)
	}
	return tags
}

// Decode decodes body into the struct target points to, evaluating
// expressions in ectx.
//
// Each field to decode carries a tag `hcl:"name"`, `hcl:"name,required"`
// or, for nested blocks, `hcl:"name,block"` on a struct, pointer to struct
// or slice of structs. Attribute fields may be string, bool, *bool, int,
// int64, float64, slices and maps of those, time.Duration (written "5m"),
// Size, cty.Value (any value) or hcl.Expression (kept unevaluated). An
// attribute or block the struct does not name is an error with a "did you
// mean" suggestion. Values that are not known yet are recorded in
// Body.Unknown and leave their field alone.
func Decode(body hcl.Body, ectx *hcl.EvalContext, typ string, defRange hcl.Range, target any) (*Body, hcl.Diagnostics) {
	return DecodeWith(body, ectx, typ, defRange, target, nil)
}

// TemplateFields is implemented by a Config some of whose options the
// kind renders itself while the build runs, with Packer's "{{ }}" fields
// (amazon-ebs's tags with {{ .SourceAMI }}, shell's execute_command with
// {{ .Path }}).
type TemplateFields interface {
	// TemplateFields maps each such option, by attribute name ("tags", or
	// "block.attr" inside a nested block), to the fields its strings may
	// use. Decode leaves those fields in place for the kind's
	// interpolate.Render; every other option is rendered whole.
	TemplateFields() map[string]interpolate.Fields
}

// DecodeWith is Decode, and with ictx it also renders Packer's "{{ }}"
// interpolation in every string the options hold (list elements, map keys
// and values included), as Packer does after HCL evaluation: engine
// functions now, the fields a TemplateFields config names left for the
// kind. An unknown function or field is an error diagnostic at the
// attribute; a string that uses a value not known yet (build_name before
// the build source is known, a build value before the machine is up)
// leaves the attribute unknown.
func DecodeWith(body hcl.Body, ectx *hcl.EvalContext, typ string, defRange hcl.Range, target any, ictx *interpolate.Context) (*Body, hcl.Diagnostics) {
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("templates.Decode: target must be a pointer to a struct")
	}
	d := &decoder{ictx: ictx}
	if tf, ok := target.(TemplateFields); ok && ictx != nil {
		d.deferred = tf.TemplateFields()
	}
	return d.decodeStruct(body, ectx, typ, defRange, rv.Elem(), "")
}

// decoder carries what a Decode call's nested blocks share.
type decoder struct {
	ictx     *interpolate.Context
	deferred map[string]interpolate.Fields
}

func (d *decoder) decodeStruct(body hcl.Body, ectx *hcl.EvalContext, typ string, defRange hcl.Range, sv reflect.Value, prefix string) (*Body, hcl.Diagnostics) {
	tags := fieldTags(sv.Type())
	schema := &hcl.BodySchema{}
	for _, t := range tags {
		if t.block {
			schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: t.name})
		} else {
			schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: t.name})
		}
	}
	b := &Body{Type: typ, DefRange: defRange, Attrs: map[string]*hcl.Attribute{},
		Blocks: map[string][]*Body{}, Unknown: map[string]bool{}, Invalid: map[string]bool{}}
	content, diags := body.Content(schema)
	if content == nil {
		return b, diags
	}
	for _, t := range tags {
		field := sv.FieldByIndex(t.index)
		if t.block {
			diags = append(diags, d.decodeBlocks(content.Blocks.OfType(t.name), ectx, t.name, field, b, prefix+t.name+".")...)
			continue
		}
		attr, ok := content.Attributes[t.name]
		if !ok {
			continue
		}
		b.Attrs[t.name] = attr
		if field.Type() == exprType {
			field.Set(reflect.ValueOf(attr.Expr))
			continue
		}
		val, vdiags := attr.Expr.Value(ectx)
		diags = append(diags, vdiags...)
		if vdiags.HasErrors() {
			b.Invalid[t.name] = true
			continue
		}
		if !val.IsWhollyKnown() {
			b.Unknown[t.name] = true
			continue
		}
		if val.IsNull() {
			delete(b.Attrs, t.name)
			continue
		}
		if d.ictx != nil {
			var idiags hcl.Diagnostics
			val, idiags = d.interpolate(b, t.name, val, prefix+t.name)
			if idiags.HasErrors() {
				diags = append(diags, idiags...)
				b.Invalid[t.name] = true
				continue
			}
			if val == cty.NilVal {
				b.Unknown[t.name] = true
				continue
			}
		}
		if err := assign(field, val); err != nil {
			b.Invalid[t.name] = true
			r := attr.Expr.Range()
			diags = append(diags, &hcl.Diagnostic{
				Severity:    hcl.DiagError,
				Summary:     "Incorrect attribute value type",
				Detail:      fmt.Sprintf("Inappropriate value for attribute %q: %s.", t.name, err),
				Subject:     &r,
				Expression:  attr.Expr,
				EvalContext: ectx,
			})
		}
	}
	for _, t := range tags {
		if t.required && !b.Has(t.name) && !b.IsUnknown(t.name) {
			what := "option"
			if t.block {
				what = "block"
			}
			diags = append(diags, b.Errorf(t.name, "Missing required "+what,
				"The %s block needs the %s %q.", typ, what, t.name))
		}
	}
	return b, diags
}

func (d *decoder) decodeBlocks(blocks hcl.Blocks, ectx *hcl.EvalContext, name string, field reflect.Value, parent *Body, prefix string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ft := field.Type()
	switch {
	case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
		out := reflect.MakeSlice(ft, 0, len(blocks))
		for _, blk := range blocks {
			ev := reflect.New(ft.Elem()).Elem()
			nb, bd := d.decodeStruct(blk.Body, ectx, name, blk.DefRange, ev, prefix)
			diags = append(diags, bd...)
			parent.Blocks[name] = append(parent.Blocks[name], nb)
			out = reflect.Append(out, ev)
		}
		field.Set(out)
	case ft.Kind() == reflect.Struct || (ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct):
		if len(blocks) == 0 {
			return nil
		}
		if len(blocks) > 1 {
			r := blocks[1].DefRange
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + name + " block",
				Detail: fmt.Sprintf("Only one %q block is allowed here; another was declared at %s.", name, blocks[0].DefRange), Subject: &r})
		}
		target := field
		if ft.Kind() == reflect.Pointer {
			field.Set(reflect.New(ft.Elem()))
			target = field.Elem()
		}
		nb, bd := d.decodeStruct(blocks[0].Body, ectx, name, blocks[0].DefRange, target, prefix)
		diags = append(diags, bd...)
		parent.Blocks[name] = append(parent.Blocks[name], nb)
	default:
		panic(fmt.Sprintf("templates: block field %q must be a struct, *struct or []struct, not %s", name, ft))
	}
	return diags
}

// assign converts val to field's Go type and stores it.
func assign(field reflect.Value, val cty.Value) error {
	ft := field.Type()
	switch ft {
	case ctyValueType:
		field.Set(reflect.ValueOf(val))
		return nil
	case durationType:
		d, err := durationOf(val)
		if err != nil {
			return err
		}
		field.SetInt(int64(d))
		return nil
	case sizeType:
		var s string
		if val.Type() == cty.Number {
			s = val.AsBigFloat().Text('f', -1)
		} else if val.Type() == cty.String {
			s = val.AsString()
		} else {
			return fmt.Errorf("a size is a number of mebibytes or a string like \"10G\", not %s", val.Type().FriendlyName())
		}
		n, err := ParseSize(s)
		if err != nil {
			return err
		}
		field.SetInt(int64(n))
		return nil
	}
	if ft.Kind() == reflect.Pointer {
		nv := reflect.New(ft.Elem())
		if err := assign(nv.Elem(), val); err != nil {
			return err
		}
		field.Set(nv)
		return nil
	}
	want, err := gocty.ImpliedType(field.Addr().Interface())
	if err != nil {
		return fmt.Errorf("internal: %s", err)
	}
	cv, err := convert.Convert(val, want)
	if err != nil {
		return fmt.Errorf("%s required", want.FriendlyName())
	}
	if err := gocty.FromCtyValue(cv, field.Addr().Interface()); err != nil {
		return err
	}
	return nil
}

func durationOf(val cty.Value) (time.Duration, error) {
	switch val.Type() {
	case cty.String:
		s := val.AsString()
		d, err := time.ParseDuration(s)
		if err != nil {
			if n, nerr := strconv.ParseInt(s, 10, 64); nerr == nil {
				return time.Duration(n) * time.Second, nil
			}
			return 0, fmt.Errorf("%q is not a duration: write a number with a unit, like \"30s\", \"5m\" or \"1h30m\"", s)
		}
		if d < 0 {
			return 0, fmt.Errorf("%q is negative; a duration must be zero or more", s)
		}
		return d, nil
	case cty.Number:
		f, _ := val.AsBigFloat().Float64()
		return time.Duration(f * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("a duration is a string like \"5m\", not %s", val.Type().FriendlyName())
}
