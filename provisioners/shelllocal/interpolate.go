package shelllocal

import (
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/templates/interpolate"
)

// ExecuteFields are the fields execute_command may use ({{ .Vars }}
// {{ .Script }}); the provisioner renders them for each script.
var ExecuteFields = interpolate.Fields{"Vars", "Script"}

// TemplateFields names the options rendered for each script: the others
// are rendered when the template is decoded.
func (c *Config) TemplateFields() map[string]interpolate.Fields {
	return map[string]interpolate.Fields{"execute_command": ExecuteFields}
}

var _ templates.TemplateFields = (*Config)(nil)
