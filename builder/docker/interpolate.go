package docker

import (
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/templates/interpolate"
)

// TemplateFields names the options whose {{ }} fields Packer renders
// itself: run_command's {{ .Image }}. bake ignores run_command (it creates
// the container through the API), but a template that sets it validates.
func (c *Config) TemplateFields() map[string]interpolate.Fields {
	return map[string]interpolate.Fields{"run_command": {"Image"}}
}

var _ templates.TemplateFields = (*Config)(nil)
