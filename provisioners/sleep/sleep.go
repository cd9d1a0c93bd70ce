package sleep

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// Config is the sleep provisioner's block.
type Config struct {
	// Duration is how long to wait, as a Go duration ("10s", "1m30s").
	Duration string `hcl:"duration"`

	d time.Duration
}

var _ templates.Config = (*Config)(nil)

// Prepare checks that duration is given and parses.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.Required(diags, "duration")
	if !b.Known("duration") {
		return diags
	}
	d, err := time.ParseDuration(c.Duration)
	switch {
	case err != nil:
		diags = append(diags, b.Errorf("duration", "Invalid value", "%q is not a duration like \"30s\" or \"1m30s\".", c.Duration))
	case d < 0:
		diags = append(diags, b.Errorf("duration", "Invalid value", "%q is negative.", c.Duration))
	}
	c.d = d
	return diags
}

// Provisioner waits for the configured duration.
type Provisioner struct{ d time.Duration }

var _ provisioners.Provisioner = (*Provisioner)(nil)

// NewProvisioner is the engine's constructor for the "sleep" provisioner
// type: cfg must be a prepared *Config.
func NewProvisioner(cfg templates.Config, _ provisioners.BuildInfo) (provisioners.Provisioner, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("sleep provisioner: config is %T, not *sleep.Config", cfg)
	}
	d := c.d
	if d == 0 && c.Duration != "" {
		var err error
		if d, err = time.ParseDuration(c.Duration); err != nil {
			return nil, fmt.Errorf("sleep provisioner: duration: %w", err)
		}
	}
	return &Provisioner{d: d}, nil
}

// Provision waits; it returns ctx's error, wrapped, when ctx ends first.
// comm is not used.
func (p *Provisioner) Provision(ctx context.Context, ui ui.UI, _ provisioners.Communicator, _ provisioners.BuildInfo) error {
	ui.Say(fmt.Sprintf("sleeping %s", p.d))
	t := time.NewTimer(p.d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sleep: %w", context.Cause(ctx))
	}
}
