package amazon

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/templates"
)

// AMIFilter selects an AMI: amazon-ebs's source_ami_filter block and the
// amazon-ami data source.
type AMIFilter struct {
	// Filters are EC2 DescribeImages filters, name → value.
	Filters map[string]string `hcl:"filters"`
	// Owners are account ids or aliases ("self", "amazon"); required, so
	// that a filter cannot pick up someone else's AMI.
	Owners []string `hcl:"owners"`
	// MostRecent picks the newest match; without it, several matches are
	// an error.
	MostRecent bool `hcl:"most_recent"`
}

// prepare checks a filter whose attributes are in b.
func (f *AMIFilter) prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !b.Has("owners") {
		diags = append(diags, b.Errorf("owners", "Missing required option",
			`The %s block needs "owners": without an owner, a filter could select an AMI published by anyone.`, b.Type))
	} else if b.Known("owners") && len(f.Owners) == 0 {
		diags = append(diags, b.Error("owners", "Invalid value", `"owners" is empty; name at least one account id or alias such as "self" or "amazon".`))
	}
	if !b.Has("filters") {
		diags = append(diags, b.Errorf("filters", "Missing required option",
			`The %s block needs "filters", such as { name = "debian-12-amd64-*" }.`, b.Type))
	} else if b.Known("filters") && len(f.Filters) == 0 {
		diags = append(diags, b.Error("filters", "Invalid value", `"filters" is empty.`))
	}
	return diags
}

// AMIDataConfig is the amazon-ami data source's block.
type AMIDataConfig struct {
	AMIFilter
	AccessConfig
}

var _ templates.Config = (*AMIDataConfig)(nil)

// Prepare validates the filter and the access options.
func (c *AMIDataConfig) Prepare(b *templates.Body) hcl.Diagnostics {
	diags := c.AMIFilter.prepare(b)
	return append(diags, c.AccessConfig.prepare(b, false)...)
}

// AMIDataType is the amazon-ami data source's result: data.amazon-ami.x.id
// and friends.
var AMIDataType = cty.Object(map[string]cty.Type{
	"id":            cty.String,
	"name":          cty.String,
	"creation_date": cty.String,
	"owner":         cty.String,
	"owner_name":    cty.String,
	"architecture":  cty.String,
	"description":   cty.String,
	"tags":          cty.Map(cty.String),
})
