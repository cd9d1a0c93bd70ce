package legacyjson

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// FuzzLegacyJSON: no input makes Decode, the bodies or Upgrade panic,
// and an upgrade of a template that reads is HCL that parses.
func FuzzLegacyJSON(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	corpus, _ := filepath.Glob("../../testdata/compat/json/*/*.json")
	deeper, _ := filepath.Glob("../../testdata/compat/json/*/*/*.json")
	seeds = append(append(seeds, corpus...), deeper...)
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	schema := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "image"}, {Name: "inline"}, {Name: "only"}, {Name: "override"}},
		Blocks: []hcl.BlockHeaderSchema{{Type: "source_ami_filter"}, {Type: "launch_block_device_mappings"}}}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := hclparse.NewParser().ParseJSON(src, "f.json")
		if diags.HasErrors() || file == nil {
			return
		}
		tpl, diags := Decode(file)
		var blocks []*Block
		blocks = append(blocks, tpl.Builders...)
		blocks = append(blocks, tpl.Provisioners...)
		for _, seq := range tpl.PostProcessors {
			blocks = append(blocks, seq...)
		}
		for _, b := range blocks {
			c, _ := b.Body.Content(schema)
			for _, a := range c.Attributes {
				a.Expr.Value(nil)
				hcl.ExprList(a.Expr)
				hcl.ExprMap(a.Expr)
			}
			for _, blk := range c.Blocks {
				blk.Body.JustAttributes()
			}
			b.Body.PartialContent(schema)
		}
		if diags.HasErrors() {
			return
		}
		out := Upgrade(tpl, testSchemas)
		if _, d := hclparse.NewParser().ParseHCL(out, "f.pkr.hcl"); d.HasErrors() {
			t.Fatalf("the upgrade does not parse: %v\n%s", d, out)
		}
	})
}
