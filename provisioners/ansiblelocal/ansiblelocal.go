package ansiblelocal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/playlog"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// cleanupTimeout bounds the removal of the staging directory, which runs
// even when the step was cancelled.
const cleanupTimeout = 2 * time.Minute

// Provisioner is the ansible-local provisioner; see the package comment.
type Provisioner struct{ cfg *Config }

var _ provisioners.Provisioner = (*Provisioner)(nil)

// New returns the provisioner for cfg, a Config that went through Prepare.
func New(cfg *Config) *Provisioner { return &Provisioner{cfg: cfg} }

// NewProvisioner is the engine's constructor for the "ansible-local"
// provisioner type: cfg must be a prepared *Config.
func NewProvisioner(cfg templates.Config, _ provisioners.BuildInfo) (provisioners.Provisioner, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("ansible-local provisioner: config is %T, not *ansiblelocal.Config", cfg)
	}
	return New(c), nil
}

// quote is s as one single-quoted shell word.
func quote(s string) string { return "'" + strings.ReplaceAll(s, `'`, `'"'"'`) + "'" }

// Provision uploads what the block names, runs each playbook on the
// machine with a local connection and removes the staging directory
// (unless clean_staging_directory is false), also after a failure or a
// cancel.
func (p *Provisioner) Provision(ctx context.Context, ui ui.UI, comm provisioners.Communicator, info provisioners.BuildInfo) (err error) {
	c := p.cfg
	c.setDefaults()
	if comm == nil {
		return fmt.Errorf("ansible-local: the build has no communicator")
	}
	staging := c.StagingDir
	if staging == "" {
		b := make([]byte, 8)
		rand.Read(b)
		staging = path.Join(DefaultStagingParent, hex.EncodeToString(b))
	}
	run := func(ctx context.Context, command string, out io.Writer) (int, error) {
		var errOut bytes.Buffer
		status, err := comm.Run(ctx, &provisioners.Cmd{Command: command, Stdout: out, Stderr: io.MultiWriter(ui.Stderr(), &errOut)})
		if err != nil {
			return status, err
		}
		return status, nil
	}
	must := func(what, command string) error {
		status, err := run(ctx, command, ui.Stdout())
		if err != nil {
			return fmt.Errorf("ansible-local: %s: %w", what, err)
		}
		if status != 0 {
			return fmt.Errorf("ansible-local: %s: exit status %d", what, status)
		}
		return nil
	}
	if err := must("create the staging directory", "mkdir -p "+quote(staging)); err != nil {
		return err
	}
	if *c.CleanStagingDir {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			status, rerr := run(cctx, "rm -rf "+quote(staging), io.Discard)
			if err == nil && rerr != nil {
				err = fmt.Errorf("ansible-local: remove the staging directory: %w", rerr)
			} else if err == nil && status != 0 {
				err = fmt.Errorf("ansible-local: remove the staging directory: exit status %d", status)
			}
		}()
	}

	upDir := func(what, dst, src string) error {
		if err := comm.UploadDir(ctx, dst, src); err != nil {
			return fmt.Errorf("ansible-local: upload %s: %w", what, err)
		}
		return nil
	}
	upFile := func(what, dst, src string) error {
		f, err := os.Open(src)
		if err != nil {
			return fmt.Errorf("ansible-local: %s: %w", what, err)
		}
		defer f.Close()
		if err := comm.Upload(ctx, dst, f, 0o644); err != nil {
			return fmt.Errorf("ansible-local: upload %s: %w", what, err)
		}
		return nil
	}
	ui.Say("ansible-local: uploading to " + staging)
	if c.PlaybookDir != "" {
		if err := upDir("playbook_dir", staging, strings.TrimSuffix(c.PlaybookDir, "/")+"/"); err != nil {
			return err
		}
	}
	for _, d := range c.PlaybookPaths {
		if err := upDir("playbook_paths", staging, strings.TrimSuffix(d, "/")); err != nil {
			return err
		}
	}
	if len(c.RolePaths) > 0 {
		if err := must("create the roles directory", "mkdir -p "+quote(path.Join(staging, "roles"))); err != nil {
			return err
		}
		for _, d := range c.RolePaths {
			if err := upDir("role_paths", path.Join(staging, "roles"), strings.TrimSuffix(d, "/")); err != nil {
				return err
			}
		}
	}
	for name, d := range map[string]string{"group_vars": c.GroupVars, "host_vars": c.HostVars} {
		if d == "" {
			continue
		}
		if err := must("create "+name, "mkdir -p "+quote(path.Join(staging, name))); err != nil {
			return err
		}
		if err := upDir(name, path.Join(staging, name), strings.TrimSuffix(d, "/")+"/"); err != nil {
			return err
		}
	}
	playbooks := c.PlaybookFiles
	if c.PlaybookFile != "" {
		playbooks = []string{c.PlaybookFile}
	}
	remote := make([]string, len(playbooks))
	for i, pb := range playbooks {
		remote[i] = path.Join(staging, filepath.Base(pb))
		if err := upFile("playbook_file", remote[i], pb); err != nil {
			return err
		}
	}
	inventory := path.Join(staging, "packer-provisioner-ansible-local-inventory")
	if c.InventoryFile != "" {
		if err := upFile("inventory_file", inventory, c.InventoryFile); err != nil {
			return err
		}
	} else {
		var inv strings.Builder
		inv.WriteString("127.0.0.1\n")
		for _, g := range c.InventoryGroups {
			fmt.Fprintf(&inv, "[%s]\n127.0.0.1\n", g)
		}
		if err := comm.Upload(ctx, inventory, strings.NewReader(inv.String()), 0o644); err != nil {
			return fmt.Errorf("ansible-local: upload the inventory: %w", err)
		}
	}
	if c.GalaxyFile != "" {
		req := path.Join(staging, "requirements.yml")
		if err := upFile("galaxy_file", req, c.GalaxyFile); err != nil {
			return err
		}
		ui.Say("ansible-local: installing galaxy requirements")
		if err := must("ansible-galaxy", "cd "+quote(staging)+" && "+c.GalaxyCommand+" install -r requirements.yml -p roles"); err != nil {
			return err
		}
	}

	var extra strings.Builder
	fmt.Fprintf(&extra, " -e %s -e %s", quote("packer_build_name="+info.SourceName), quote("packer_builder_type="+info.Type))
	for _, a := range c.ExtraArguments {
		extra.WriteString(" " + quote(a))
	}
	for _, pb := range remote {
		ui.Say("ansible-local: running " + path.Base(pb))
		tr := &playlog.Tracker{}
		command := "cd " + quote(staging) + " && " + c.Command + extra.String() + " -c local -i " + quote(inventory) + " " + quote(pb)
		status, err := run(ctx, command, io.MultiWriter(ui.Stdout(), tr))
		if err != nil {
			return fmt.Errorf("ansible-local: %s: %w", path.Base(pb), err)
		}
		if status != 0 {
			if f := tr.Failure(); f != "" {
				return fmt.Errorf("ansible-local: %s: %s (exit status %d)", path.Base(pb), f, status)
			}
			return fmt.Errorf("ansible-local: %s: ansible-playbook exited with status %d", path.Base(pb), status)
		}
	}
	return nil
}
