package null

import (
	"context"
	"fmt"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// ArtifactID is the ID of the null builder's artifact.
const ArtifactID = "null"

// Builder is the null source: it creates nothing. With communicator =
// "ssh" it connects to the existing machine at ssh_host, runs the
// provisioners through that connection and closes it; with "none" the
// provisioners get a nil communicator (shell-local, breakpoint). Its
// artifact is a placeholder with ID "null", so that post-processors
// (shell-local, manifest) run after it as they would after any build.
type Builder struct {
	cfg  *Config
	opts builder.Options
	// name is the build's "type.name".
	name string
	// connect opens the SSH communicator; tests may replace it.
	connect func(ctx context.Context, cfg ssh.Config) (provisioners.Communicator, error)
}

var _ builder.Builder = (*Builder)(nil)

// New returns the builder for cfg, a Config that went through Prepare.
func New(cfg *Config, opts builder.Options) *Builder {
	name := opts.BuildName("null")
	return &Builder{cfg: cfg, opts: opts, name: name, connect: connectSSH}
}

// NewBuilder is the engine's constructor for the "null" source type: cfg
// must be a prepared *Config.
func NewBuilder(cfg templates.Config, opts builder.Options) (builder.Builder, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("null builder: config is %T, not *null.Config", cfg)
	}
	return New(c, opts), nil
}

func connectSSH(ctx context.Context, cfg ssh.Config) (provisioners.Communicator, error) {
	return ssh.Connect(ctx, cfg, nil)
}

// state is what the null builder's steps share.
type state struct {
	comm provisioners.Communicator
	info provisioners.BuildInfo
}

// Build connects (for SSH), calls hook, and disconnects, on every path.
func (b *Builder) Build(ctx context.Context, ui ui.UI, hook builder.Hook) (*artifacts.Artifact, error) {
	s := &state{info: b.info()}
	var steps []builder.Step[state]
	if b.cfg.Type == communicator.SSH {
		steps = append(steps, builder.Step[state]{
			Name:    "connect over SSH",
			Run:     func(ctx context.Context, s *state) error { return b.connectStep(ctx, ui, s) },
			Cleanup: closeComm,
		})
	}
	steps = append(steps, builder.Step[state]{
		Name: "provision",
		Run:  func(ctx context.Context, s *state) error { return hook(ctx, s.comm, s.info) },
	})
	if err := builder.RunSteps(ctx, b.opts, ui, s, steps); err != nil {
		return nil, err
	}
	return &artifacts.Artifact{Builder: "null", Build: b.name, ID: ArtifactID}, nil
}

func (b *Builder) connectStep(ctx context.Context, ui ui.UI, s *state) error {
	if d := b.cfg.PauseBeforeConnecting; d > 0 {
		ui.Say(fmt.Sprintf("waiting %s before connecting (pause_before_connecting)", d))
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	cfg, err := b.cfg.SSHConfig.Client("", 0, nil)
	if err != nil {
		return err
	}
	ui.Say(fmt.Sprintf("connecting to %s as %s over SSH", cfg.Addr(), cfg.User))
	comm, err := b.connect(ctx, cfg)
	if err != nil {
		return err
	}
	s.comm = comm
	s.info.SSHPrivateKey = string(cfg.PrivateKey)
	ui.Say("connected to " + cfg.Addr())
	return nil
}

func closeComm(_ context.Context, s *state) error {
	if s.comm == nil {
		return nil
	}
	err := s.comm.Close()
	s.comm = nil
	if err != nil {
		return fmt.Errorf("close SSH connection: %w", err)
	}
	return nil
}

// info is what the build tells its provisioners about itself.
func (b *Builder) info() provisioners.BuildInfo {
	info := b.opts.BuildInfo("null")
	if b.cfg.Type == communicator.SSH {
		c := b.cfg.SSHConfig
		info.Host, info.Port, info.User, info.Password = c.Host, c.Port, c.Username, c.Password
		if info.Port == 0 {
			info.Port = communicator.DefaultSSHPort
		}
	}
	return info
}
