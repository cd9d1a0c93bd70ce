package breakpoint

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// Provisioner is the breakpoint provisioner: it shows the note and waits
// for a line (Enter) on its input, so the user can look at the machine
// mid-build. Libraries never touch the terminal: the binary passes the
// terminal as the input, or nil when there is none (output redirected,
// CI), and the breakpoint is then skipped.
type Provisioner struct {
	cfg *Config
	in  io.Reader
}

var _ provisioners.Provisioner = (*Provisioner)(nil)

// New returns the provisioner for cfg, waiting on in; nil in skips the
// pause.
func New(cfg *Config, in io.Reader) *Provisioner { return &Provisioner{cfg: cfg, in: in} }

// NewProvisioner is the engine's constructor for the "breakpoint"
// provisioner type when there is no terminal: the breakpoint says it is
// skipped. With a terminal, use Constructor.
func NewProvisioner(cfg templates.Config, info provisioners.BuildInfo) (provisioners.Provisioner, error) {
	return Constructor(nil)(cfg, info)
}

// Constructor returns the engine's constructor for the "breakpoint"
// provisioner type, waiting on in (the terminal, or nil).
func Constructor(in io.Reader) func(cfg templates.Config, info provisioners.BuildInfo) (provisioners.Provisioner, error) {
	return func(cfg templates.Config, _ provisioners.BuildInfo) (provisioners.Provisioner, error) {
		c, ok := cfg.(*Config)
		if !ok {
			return nil, fmt.Errorf("breakpoint provisioner: config is %T, not *breakpoint.Config", cfg)
		}
		return New(c, in), nil
	}
}

// Provision shows the note and waits for Enter, or for ctx to be done. A
// read still in progress when ctx is done is abandoned: the run is ending.
func (p *Provisioner) Provision(ctx context.Context, ui ui.UI, _ provisioners.Communicator, _ provisioners.BuildInfo) error {
	switch {
	case p.cfg.Disable:
		ui.Say("breakpoint skipped (disable = true)")
		return nil
	case p.in == nil:
		ui.Say("breakpoint skipped: no terminal to wait on")
		return nil
	}
	note := p.cfg.Note
	if note == "" {
		note = "breakpoint"
	}
	ui.Say(fmt.Sprintf("pausing at breakpoint: %s; press Enter to continue", note))
	read := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(p.in).ReadString('\n')
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil && err != io.EOF {
			return fmt.Errorf("breakpoint: read input: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("breakpoint: %w", context.Cause(ctx))
	}
}
