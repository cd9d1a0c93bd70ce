package null

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/templates"
)

// Config is the null source's block: the communicator options only.
type Config struct {
	communicator.Config
}

var _ templates.Config = (*Config)(nil)

// Prepare validates the communicator options; with SSH, the existing
// machine's ssh_host and ssh_username are required.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	diags := c.Config.Prepare(b)
	if c.Type == communicator.SSH {
		diags = b.Required(diags, "ssh_host", "ssh_username")
	}
	return diags
}
