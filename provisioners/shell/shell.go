package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/script"
	"github.com/bake-tool/bake/templates"
)

// envFileExecuteCommand is the default execute_command when
// use_env_var_file is set: the variables are sourced from the file.
const envFileExecuteCommand = "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"

// Backoff between attempts while the machine cannot be reached
// (start_retry_timeout).
const (
	firstRetryDelay = 250 * time.Millisecond
	maxRetryDelay   = 5 * time.Second
)

// Provisioner is the shell provisioner: it uploads each script (the
// inline commands, script or scripts) to the machine with mode 0755, runs
// it with execute_command, and removes it unless skip_clean is set.
type Provisioner struct {
	cfg *Config
}

var _ provisioners.Provisioner = (*Provisioner)(nil)

// New returns the provisioner for cfg, a Config that went through Prepare.
// A zero StartRetryTimeout tries each command once.
func New(cfg *Config) *Provisioner { return &Provisioner{cfg: cfg} }

// NewProvisioner is the engine's constructor for the "shell" provisioner
// type: cfg must be a prepared *Config.
func NewProvisioner(cfg templates.Config, _ provisioners.BuildInfo) (provisioners.Provisioner, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("shell provisioner: config is %T, not *shell.Config", cfg)
	}
	return New(c), nil
}

// ExecuteData is what execute_command is rendered with.
type ExecuteData struct {
	// Path is the uploaded script on the machine.
	Path string
	// Vars are the environment variables, each rendered with
	// env_var_format (default "KEY='value' "), sorted by name.
	Vars string
	// EnvVarFile is the uploaded file of "export KEY='value'" lines when
	// use_env_var_file is set.
	EnvVarFile string
}

// Provision runs the scripts in order, streaming their output to ui as the
// machine writes it. A script whose exit status is not in
// valid_exit_codes fails the step with an error naming it; with
// expect_disconnect, a connection lost while a script runs counts as
// success.
func (p *Provisioner) Provision(ctx context.Context, ui provisioners.UI, comm provisioners.Communicator, info provisioners.BuildInfo) error {
	if comm == nil {
		return errors.New(`the shell provisioner needs a communicator, and this source has communicator = "none"`)
	}
	c := p.cfg
	scripts, err := p.scripts()
	if err != nil {
		return err
	}
	env := script.Env(script.BuildEnv(info), c.EnvironmentVars, c.Env)
	format := c.EnvVarFormat
	if format == "" {
		format = DefaultEnvVarFormat
	}
	folder := c.RemoteFolder
	if folder == "" {
		folder = DefaultRemoteFolder
	}
	remote := c.RemotePath
	if remote == "" {
		file := c.RemoteFile
		if file == "" {
			file = fmt.Sprintf("script_%d.sh", rand.IntN(1_000_000_000))
		}
		remote = path.Join(folder, file)
	}
	data := ExecuteData{Path: remote, Vars: script.Render(format, env)}
	execute := c.ExecuteCommand
	if execute == "" {
		execute = DefaultExecuteCommand
	}

	if c.UseEnvVarFile {
		data.EnvVarFile = path.Join(folder, fmt.Sprintf("varfile_%d.sh", rand.IntN(1_000_000_000)))
		if execute == DefaultExecuteCommand {
			execute = envFileExecuteCommand
		}
		vars := []byte(script.Render("export %s='%s'\n", env))
		err := p.retry(ctx, ui, "upload the environment file", func() error {
			return comm.Upload(ctx, data.EnvVarFile, bytes.NewReader(vars), 0o600)
		})
		if err != nil {
			return fmt.Errorf("upload environment file %s: %w", data.EnvVarFile, err)
		}
		if !c.SkipClean {
			defer p.remove(ctx, ui, comm, data.EnvVarFile)
		}
	}

	command, err := script.Expand(execute, data)
	if err != nil {
		return err
	}
	for _, s := range scripts {
		if err := p.run(ctx, ui, comm, s, remote, command); err != nil {
			return err
		}
	}
	if c.PauseAfter > 0 {
		ui.Say(fmt.Sprintf("pausing %s after the shell scripts (pause_after)", c.PauseAfter))
		t := time.NewTimer(c.PauseAfter)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("pause_after: %w", context.Cause(ctx))
		}
	}
	return nil
}

// source is one script to run.
type source struct {
	name    string // the file, or "inline commands"
	content []byte
}

func (p *Provisioner) scripts() ([]source, error) {
	c := p.cfg
	if len(c.Inline) > 0 {
		shebang := c.InlineShebang
		if shebang == "" {
			shebang = DefaultInlineShebang
		}
		return []source{{name: "inline commands", content: script.Inline(shebang, c.Inline)}}, nil
	}
	files := c.Scripts
	if c.Script != "" {
		files = []string{c.Script}
	}
	if len(files) == 0 {
		return nil, errors.New("the shell provisioner has nothing to run: set inline, script or scripts")
	}
	out := make([]source, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read script: %w", err)
		}
		if !c.Binary {
			b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		}
		out = append(out, source{name: f, content: b})
	}
	return out, nil
}

// writeFailed is the exit status of the wrapper when the script could not
// be written to the machine (see run).
const writeFailed = 254

// run writes one script to remote, runs command, removes the script and
// checks the exit status — all in one command on the machine, the script
// arriving on its stdin. One round trip per script instead of three
// (upload, run, remove) is what keeps a shell step cheap: each is an exec
// or a session, about 60 ms on a Docker engine.
func (p *Provisioner) run(ctx context.Context, ui provisioners.UI, comm provisioners.Communicator, s source, remote, command string) error {
	c := p.cfg
	ui.Say("provisioning with shell script: " + s.name)
	q := "'" + script.QuoteSingle(remote) + "'"
	var wrapper strings.Builder
	dir := "'" + script.QuoteSingle(path.Dir(remote)) + "'"
	fmt.Fprintf(&wrapper, "{ mkdir -p %s && cat > %s && chmod 0755 %s; } || exit %d\n", dir, q, q, writeFailed)
	wrapper.WriteString(command)
	if c.SkipClean {
		wrapper.WriteString("\n")
	} else {
		fmt.Fprintf(&wrapper, "\n__bake_rc=$?\nrm -f %s\nexit $__bake_rc\n", q)
	}
	var status int
	err := p.retry(ctx, ui, "start the script", func() error {
		var err error
		status, err = comm.Run(ctx, &provisioners.Cmd{Command: wrapper.String(), Stdin: bytes.NewReader(s.content),
			Stdout: ui.Stdout(), Stderr: ui.Stderr()})
		if errors.Is(err, provisioners.ErrDisconnected) {
			// The script started: running it again is not ours to do.
			return permanent{err}
		}
		return err
	})
	if errors.Is(err, provisioners.ErrDisconnected) && c.ExpectDisconnect && ctx.Err() == nil {
		ui.Say(fmt.Sprintf("%s: the connection was lost while the script ran, which expect_disconnect allows", s.name))
		if !c.SkipClean {
			p.remove(ctx, ui, comm, remote)
		}
		return nil
	}
	if err != nil {
		if errors.Is(err, provisioners.ErrDisconnected) {
			return fmt.Errorf("%s: %w (set expect_disconnect = true if the script reboots the machine)", s.name, err)
		}
		return fmt.Errorf("%s: %w", s.name, err)
	}
	if status == writeFailed && !slices.Contains(c.ValidExitCodes, writeFailed) {
		return fmt.Errorf("%s: could not write the script to %s on the machine (exit status %d; its error is in the output above)", s.name, remote, writeFailed)
	}
	return script.Check(s.name, status, c.ValidExitCodes)
}

// remove deletes a file the provisioner uploaded. A failure is reported,
// not returned: the scripts themselves ran.
func (p *Provisioner) remove(ctx context.Context, ui provisioners.UI, comm provisioners.Communicator, remote string) {
	var status int
	err := p.retry(ctx, ui, "remove "+remote, func() error {
		var err error
		status, err = comm.Run(ctx, &provisioners.Cmd{Command: "rm -f '" + script.QuoteSingle(remote) + "'"})
		return err
	})
	switch {
	case err != nil:
		ui.Error(fmt.Sprintf("could not remove %s from the machine: %v", remote, err))
	case status != 0:
		ui.Error(fmt.Sprintf("could not remove %s from the machine: rm exited with code %d", remote, status))
	}
}

// permanent marks an error retry must not retry.
type permanent struct{ err error }

func (e permanent) Error() string { return e.err.Error() }
func (e permanent) Unwrap() error { return e.err }

// retry calls f until it succeeds, returns a permanent error, ctx is done
// or start_retry_timeout has passed, with a growing pause in between: the
// machine may be rebooting.
func (p *Provisioner) retry(ctx context.Context, ui provisioners.UI, what string, f func() error) error {
	deadline := time.Now().Add(p.cfg.StartRetryTimeout)
	delay := firstRetryDelay
	for attempt := 1; ; attempt++ {
		err := f()
		var perm permanent
		switch {
		case err == nil:
			return nil
		case errors.As(err, &perm):
			return perm.err
		case ctx.Err() != nil:
			return err
		case !time.Now().Add(delay).Before(deadline):
			if attempt > 1 {
				return fmt.Errorf("gave up after %d attempts in %s (start_retry_timeout): %w", attempt, p.cfg.StartRetryTimeout, err)
			}
			return err
		}
		if attempt == 1 {
			ui.Say(fmt.Sprintf("could not %s, retrying for up to %s: %v", what, p.cfg.StartRetryTimeout, err))
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while retrying after: %v)", context.Cause(ctx), err)
		}
		delay = min(delay*2, maxRetryDelay)
	}
}
