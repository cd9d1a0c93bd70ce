package templates

import (
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/zclconf/go-cty/cty"
)

// TestLocalsReferences checks the values of locals that refer to others
// in every way an expression can: by name, by index, through a function,
// from the JSON form and from a data source; each is evaluated with only
// what it refers to in scope.
func TestLocalsReferences(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  map[string]cty.Value
	}{
		{
			name: "hcl",
			files: map[string]string{"t/a.pkr.hcl": `
variable "v" {
  default = 10
}
locals {
  a = var.v + 1
  b = local["a"] * 2
  c = "${local.b}-${local.a}"
  d = [for k in ["a", "b"] : local[k]]
  e = try(local.a.nope, "fallback")
  f = data.lookup.x.id
}
local "g" {
  expression = upper("x-${local.c}")
}
data "lookup" "x" {
  filter = local.c
}
`},
			want: map[string]cty.Value{
				"a": cty.NumberIntVal(11), "b": cty.NumberIntVal(22), "c": cty.StringVal("22-11"),
				"d": cty.TupleVal([]cty.Value{cty.NumberIntVal(11), cty.NumberIntVal(22)}),
				"e": cty.StringVal("fallback"), "f": cty.StringVal("id-22-11"), "g": cty.StringVal("X-22-11"),
			},
		},
		{
			name: "json",
			files: map[string]string{"t/a.pkr.json": `{
  "variable": {"v": {"default": 1}},
  "locals": {"a": "${var.v + 1}", "b": "${local.a * 3}"}
}`},
			want: map[string]cty.Value{"a": cty.NumberIntVal(2), "b": cty.NumberIntVal(6)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, diags := loadMap(t, tc.files, LoadOptions{ExecuteData: true})
			for _, d := range diags {
				if d.Severity == hcl.DiagError {
					t.Errorf("%s", d)
				}
			}
			got := map[string]cty.Value{}
			for _, l := range plan.Locals {
				got[l.Name] = l.Value
			}
			for name, want := range tc.want {
				v, ok := got[name]
				if !ok || !v.Type().Equals(want.Type()) || !v.IsKnown() || v.Equals(want).False() {
					t.Errorf("local.%s = %#v, want %#v", name, v, want)
				}
			}
		})
	}
}
