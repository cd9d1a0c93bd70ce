package breakpoint

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// Config is the breakpoint provisioner's block.
type Config struct {
	// Disable skips the pause, so a breakpoint can stay in a template.
	Disable bool `hcl:"disable"`
	// Note is shown while the build waits.
	Note string `hcl:"note"`
}

var _ templates.Config = (*Config)(nil)

// Prepare has nothing to check: both options are free-form.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics { return nil }
