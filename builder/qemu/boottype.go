package qemu

import (
	"context"
	"fmt"
	"strings"
	"time"

	braces "github.com/bake-tool/bake/templates/interpolate"
)

// DefaultBootKeyInterval is the pause after each key of a boot command, as
// in Packer.
const DefaultBootKeyInterval = 100 * time.Millisecond

// bootStep is one step of boot_steps (or the whole boot_command): what to
// type and, for boot_steps, the description printed before it.
type bootStep struct {
	command, description string
}

// bootSteps are the boot command's steps: boot_command as one step, or
// boot_steps.
func (c *Config) bootSteps() []bootStep {
	if len(c.BootCommand) > 0 {
		return []bootStep{{command: strings.Join(c.BootCommand, "")}}
	}
	var out []bootStep
	for _, s := range c.BootSteps {
		var st bootStep
		if len(s) > 0 {
			st.command = s[0]
		}
		if len(s) > 1 {
			st.description = s[1]
		}
		out = append(out, st)
	}
	return out
}

// bootValues are the fields a boot command may use, with Packer's names.
type bootValues struct {
	HTTPIP       string
	HTTPPort     int
	Name         string
	SSHPublicKey string
}

// typeBootCommand waits boot_wait, then types the boot command into the
// guest through qemu's QMP monitor (input-send-event, so no VNC port is
// opened), printing each boot step's description before its keys. What is
// typed is never printed: it may hold a password.
func (b *Builder) typeBootCommand(ctx context.Context, s *state) error {
	steps := b.cfg.bootSteps()
	if len(steps) == 0 {
		return nil
	}
	v := bootValues{HTTPIP: GuestHostIP, HTTPPort: s.httpPort, Name: b.cfg.VMName}
	if s.key != nil {
		v.SSHPublicKey = strings.TrimSpace(string(s.key.AuthorizedKey))
	}
	// Render and parse every step before the first key, so a mistake
	// types nothing.
	acts := make([][]keyAction, len(steps))
	for i, st := range steps {
		text, err := braces.Render(st.command, v)
		if err != nil {
			return fmt.Errorf("boot command step %d: %w", i+1, err)
		}
		if acts[i], err = parseBootCommand(text); err != nil {
			return fmt.Errorf("boot command step %d: %w", i+1, err)
		}
	}
	if b.cfg.BootWait > 0 {
		s.ui.Say(fmt.Sprintf("waiting %s (boot_wait) before typing the boot command", b.cfg.BootWait))
	}
	if err := b.sleep(ctx, s, b.cfg.BootWait); err != nil {
		return err
	}
	if b.beforeType != nil {
		if err := b.beforeType(ctx, s.console); err != nil {
			return err
		}
	}
	q, err := dialQMP(ctx, s.vm.qmp)
	if err != nil {
		return fmt.Errorf("connect to qemu's monitor to type the boot command: %w", err)
	}
	defer q.Close()
	if len(steps) == 1 && steps[0].description == "" {
		s.ui.Say("typing the boot command through qemu's monitor")
	}
	for i, st := range steps {
		if st.description != "" {
			s.ui.Say(fmt.Sprintf("boot step %d/%d: %s", i+1, len(steps), st.description))
		} else if len(steps) > 1 {
			s.ui.Say(fmt.Sprintf("boot step %d/%d", i+1, len(steps)))
		}
		if err := typeKeys(ctx, q, acts[i], b.cfg.BootKeyInterval, s.vm.exited); err != nil {
			if s.vm.hasExited() {
				return b.withConsole(s, s.vm.exitError("qemu exited while the boot command was typed"))
			}
			return fmt.Errorf("type boot command step %d: %w", i+1, err)
		}
	}
	return nil
}

// keySender is the part of a QMP connection typing uses.
type keySender interface {
	sendKeys(ctx context.Context, events ...qmpKeyEvent) error
}

// typeKeys sends acts: a press is its key (with shift when needed) down,
// then up, then a pause of interval; a toggle is one half; a wait waits.
// It stops early when ctx ends or exited is closed.
func typeKeys(ctx context.Context, q keySender, acts []keyAction, interval time.Duration, exited <-chan struct{}) error {
	pause := func(d time.Duration) error {
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-exited:
			return fmt.Errorf("qemu exited")
		}
	}
	for _, a := range acts {
		var err error
		switch {
		case a.qcode == "":
			err = pause(a.wait)
		case a.press:
			down := []qmpKeyEvent{keyEvent(a.qcode, true)}
			up := []qmpKeyEvent{keyEvent(a.qcode, false)}
			if a.shift {
				down = append([]qmpKeyEvent{keyEvent("shift", true)}, down...)
				up = append(up, keyEvent("shift", false))
			}
			if err = q.sendKeys(ctx, down...); err == nil {
				err = q.sendKeys(ctx, up...)
			}
			if err == nil {
				err = pause(interval)
			}
		default:
			if err = q.sendKeys(ctx, keyEvent(a.qcode, a.down)); err == nil {
				err = pause(interval)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
