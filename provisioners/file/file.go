package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/script"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// Provisioner is the file provisioner. Upload copies local files and
// directories, or the literal content, to the machine; download copies a
// machine file or directory here. Permission bits are kept both ways.
//
// Destinations follow Packer: a destination ending in "/" is a directory
// the file goes into under its own name; a directory source is copied with
// rsync's rule ("dir" lands as destination/dir, "dir/" puts its contents
// into destination).
type Provisioner struct {
	cfg *Config
}

var _ provisioners.Provisioner = (*Provisioner)(nil)

// New returns the provisioner for cfg, a Config that went through Prepare.
func New(cfg *Config) *Provisioner { return &Provisioner{cfg: cfg} }

// NewProvisioner is the engine's constructor for the "file" provisioner
// type: cfg must be a prepared *Config.
func NewProvisioner(cfg templates.Config, _ provisioners.BuildInfo) (provisioners.Provisioner, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("file provisioner: config is %T, not *file.Config", cfg)
	}
	return New(c), nil
}

// Provision copies what the block says, in the direction it says.
func (p *Provisioner) Provision(ctx context.Context, ui ui.UI, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
	if comm == nil {
		return errors.New(`the file provisioner needs a communicator, and this source has communicator = "none"`)
	}
	c := p.cfg
	if c.Direction == Download {
		return p.download(ctx, ui, comm)
	}
	if c.Source == "" && len(c.Sources) == 0 {
		return p.uploadContent(ctx, ui, comm)
	}
	sources := c.Sources
	if c.Source != "" {
		sources = []string{c.Source}
	}
	for _, src := range sources {
		if err := p.upload(ctx, ui, comm, src); err != nil {
			return err
		}
	}
	return nil
}

func (p *Provisioner) uploadContent(ctx context.Context, ui ui.UI, comm provisioners.Communicator) error {
	dst := p.cfg.Destination
	if strings.HasSuffix(dst, "/") {
		return fmt.Errorf("upload content: destination %q is a directory; name the file to write", dst)
	}
	ui.Say("uploading content to " + dst)
	mkdirAll(ctx, comm, path.Dir(dst))
	if err := comm.Upload(ctx, dst, strings.NewReader(p.cfg.Content), 0o644); err != nil {
		return fmt.Errorf("upload content to %s: %w", dst, err)
	}
	return nil
}

func (p *Provisioner) upload(ctx context.Context, ui ui.UI, comm provisioners.Communicator, src string) error {
	dst := p.cfg.Destination
	fi, err := os.Stat(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && p.cfg.Generated {
			return fmt.Errorf("upload %s: it should have been made by an earlier step (generated = true), but %w", src, err)
		}
		return fmt.Errorf("upload %s: %w", src, err)
	}
	if fi.IsDir() {
		if len(dst) > 1 {
			dst = strings.TrimSuffix(dst, "/")
		}
		ui.Say(fmt.Sprintf("uploading directory %s to %s", src, dst))
		if err := comm.UploadDir(ctx, dst, src); err != nil {
			return fmt.Errorf("upload directory %s to %s: %w", src, dst, err)
		}
		return nil
	}
	if strings.HasSuffix(dst, "/") {
		mkdirAll(ctx, comm, dst)
		dst = path.Join(dst, filepath.Base(src))
	}
	ui.Say(fmt.Sprintf("uploading %s to %s", src, dst))
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("upload %s: %w", src, err)
	}
	defer f.Close()
	if err := comm.Upload(ctx, dst, f, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("upload %s to %s: %w", src, dst, err)
	}
	return nil
}

// mkdirAll creates a machine directory, best effort: when it fails the
// upload that follows reports why.
func mkdirAll(ctx context.Context, comm provisioners.Communicator, dir string) {
	if dir == "" || dir == "." || dir == "/" {
		return
	}
	_, _ = comm.Run(ctx, &provisioners.Cmd{Command: "mkdir -p '" + script.QuoteSingle(dir) + "'"})
}

// probeScript says what the machine path $1 is: "dir", "file MODE" or
// "none".
const probeScript = `if [ -d %[1]s ]; then echo dir; elif [ -e %[1]s ]; then echo file $(stat -c %%a %[1]s 2>/dev/null || echo 644); else echo none; fi`

// remoteKind is what a download source is on the machine.
type remoteKind struct {
	dir  bool
	mode fs.FileMode
}

// probe asks the machine whether src is a directory and, for a file, its
// mode. A source ending in "/" is a directory without asking. A machine
// without a shell (the probe fails to run) is taken to hold a 0644 file.
func probe(ctx context.Context, comm provisioners.Communicator, src string) (remoteKind, error) {
	if strings.HasSuffix(src, "/") {
		return remoteKind{dir: true}, nil
	}
	var out strings.Builder
	q := "'" + script.QuoteSingle(src) + "'"
	status, err := comm.Run(ctx, &provisioners.Cmd{Command: fmt.Sprintf(probeScript, q), Stdout: &out})
	if err != nil || status != 0 {
		if ctx.Err() != nil {
			return remoteKind{}, fmt.Errorf("download %s: %w", src, context.Cause(ctx))
		}
		return remoteKind{mode: 0o644}, nil
	}
	fields := strings.Fields(out.String())
	switch {
	case len(fields) == 0:
		return remoteKind{mode: 0o644}, nil
	case fields[0] == "dir":
		return remoteKind{dir: true}, nil
	case fields[0] == "none":
		return remoteKind{}, fmt.Errorf("download %s: no such file or directory on the machine", src)
	}
	mode := fs.FileMode(0o644)
	if len(fields) > 1 {
		if m, err := strconv.ParseUint(fields[1], 8, 32); err == nil {
			mode = fs.FileMode(m).Perm()
		}
	}
	return remoteKind{mode: mode}, nil
}

func (p *Provisioner) download(ctx context.Context, ui ui.UI, comm provisioners.Communicator) error {
	src, dst := p.cfg.Source, p.cfg.Destination
	kind, err := probe(ctx, comm, src)
	if err != nil {
		return err
	}
	if kind.dir {
		ui.Say(fmt.Sprintf("downloading directory %s to %s", src, dst))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("download directory %s: %w", src, err)
		}
		if err := comm.DownloadDir(ctx, src, dst); err != nil {
			return fmt.Errorf("download directory %s to %s: %w", src, dst, err)
		}
		return nil
	}
	if fi, err := os.Stat(dst); strings.HasSuffix(dst, "/") || (err == nil && fi.IsDir()) {
		dst = filepath.Join(dst, path.Base(src))
	}
	ui.Say(fmt.Sprintf("downloading %s to %s", src, dst))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("download %s: %w", src, err)
	}
	// Into a temporary file first, so that a failed download leaves no
	// half file under the destination's name.
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".bake-*")
	if err != nil {
		return fmt.Errorf("download %s: %w", src, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = comm.Download(ctx, src, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, kind.mode)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return fmt.Errorf("download %s to %s: %w", src, dst, err)
	}
	return nil
}
