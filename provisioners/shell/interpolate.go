package shell

import (
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/templates/interpolate"
)

// ExecuteFields are the fields execute_command may use ({{ .Vars }}
// {{ .Path }}); the provisioner renders them for each script.
var ExecuteFields = interpolate.Fields{"Vars", "Path", "EnvVarFile"}

// TemplateFields names the options the provisioner renders itself: the
// others are rendered when the template is decoded, with the build's
// values ({{ .Host }}, {{ build "ID" }}) once the machine is up.
func (c *Config) TemplateFields() map[string]interpolate.Fields {
	return map[string]interpolate.Fields{"execute_command": ExecuteFields}
}

var _ templates.TemplateFields = (*Config)(nil)
