package postprocessors

import (
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/templates/interpolate"
)

// Fields the output option of checksum and compress may use, rendered for
// each artifact.
var (
	ChecksumOutputFields = interpolate.Fields{"BuildName", "BuilderType", "ChecksumType"}
	CompressOutputFields = interpolate.Fields{"BuildName", "BuilderType"}
)

// TemplateFields names the options the post-processor renders itself.
func (c *ChecksumConfig) TemplateFields() map[string]interpolate.Fields {
	return map[string]interpolate.Fields{"output": ChecksumOutputFields}
}

// TemplateFields names the options the post-processor renders itself.
func (c *CompressConfig) TemplateFields() map[string]interpolate.Fields {
	return map[string]interpolate.Fields{"output": CompressOutputFields}
}

var (
	_ templates.TemplateFields = (*ChecksumConfig)(nil)
	_ templates.TemplateFields = (*CompressConfig)(nil)
)
