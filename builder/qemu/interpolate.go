package qemu

import (
	"github.com/bake-tool/bake/templates"
	braces "github.com/bake-tool/bake/templates/interpolate"
)

// Fields of the options the builder renders once qemu's ports are chosen,
// with Packer's names.
var (
	// QemuArgsFields are what qemuargs may use.
	QemuArgsFields = braces.Fields{"HTTPIP", "HTTPPort", "SSHHostPort", "OutputDir", "Name"}
	// BootCommandFields are what boot_command and boot_steps may use.
	BootCommandFields = braces.Fields{"HTTPIP", "HTTPPort", "Name", "SSHPublicKey"}
)

// TemplateFields names the options the builder renders itself; the others
// are rendered when the template is decoded.
func (c *Config) TemplateFields() map[string]braces.Fields {
	return map[string]braces.Fields{"qemuargs": QemuArgsFields, "boot_command": BootCommandFields, "boot_steps": BootCommandFields}
}

var _ templates.TemplateFields = (*Config)(nil)
