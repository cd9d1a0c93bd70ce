package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"strings"
	"time"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/script"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// envFileExecuteCommand is the default execute_command when
// use_env_var_file is set: the variables are sourced from the file.
const envFileExecuteCommand = "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"

// withoutChmod maps the default execute commands to the same commands
// without their leading `chmod +x {{.Path}}; `, which the wrapper in run
// has done already.
var withoutChmod = map[string]string{
	DefaultExecuteCommand: "{{.Vars}} {{.Path}}",
	envFileExecuteCommand: ". {{.EnvVarFile}} && {{.Path}}",
}

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
func (p *Provisioner) Provision(ctx context.Context, ui ui.UI, comm provisioners.Communicator, info provisioners.BuildInfo) error {
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
			if ctx.Err() != nil && !c.SkipClean {
				// A cancelled upload may have arrived all the same.
				p.remove(ctx, ui, comm, data.EnvVarFile)
			}
			return fmt.Errorf("upload environment file %s: %w", data.EnvVarFile, err)
		}
		if !c.SkipClean {
			defer p.remove(ctx, ui, comm, data.EnvVarFile)
		}
	}

	// The wrapper run makes the script executable (chmod 0755), so the
	// defaults' own `chmod +x` would be a second, no-op process in the
	// machine for every script: run them without it.
	if short, ok := withoutChmod[execute]; ok {
		execute = short
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
// be written to the machine (see run). A script may exit with it too: the
// wrapper tells the two apart by also printing a line of its own (see
// writeMarker).
const writeFailed = 254

// removeTimeout bounds removing what a provisioner put on the machine
// once its context is done (see remove).
const removeTimeout = 30 * time.Second

// run writes one script to remote, runs command, removes the script and
// checks the exit status — all in one command on the machine, the script
// arriving on its stdin. One round trip per script instead of three
// (upload, run, remove) is what keeps a shell step cheap: each is an exec
// or a session, about 60 ms on a Docker engine.
//
// When ctx ends while the script runs, the communicator stops it, and the
// script is removed by a command of its own.
func (p *Provisioner) run(ctx context.Context, ui ui.UI, comm provisioners.Communicator, s source, remote, command string) error {
	c := p.cfg
	ui.Say("provisioning with shell script: " + s.name)
	q := "'" + script.QuoteSingle(remote) + "'"
	marker := newWriteMarker()
	var wrapper strings.Builder
	dir := "'" + script.QuoteSingle(path.Dir(remote)) + "'"
	// `[ -d ]` is a shell builtin: the usual existing folder costs no
	// mkdir process.
	fmt.Fprintf(&wrapper, "{ { [ -d %s ] || mkdir -p %s; } && cat > %s && chmod 0755 %s; } || { echo %s >&2; exit %d; }\n", dir, dir, q, q, marker, writeFailed)
	wrapper.WriteString(command)
	if c.SkipClean {
		wrapper.WriteString("\n")
	} else {
		fmt.Fprintf(&wrapper, "\n__bake_rc=$?\nrm -f %s\nexit $__bake_rc\n", q)
	}
	var status int
	var stderr *markerWriter
	err := p.retry(ctx, ui, "start the script", func() error {
		var err error
		stderr = &markerWriter{w: ui.Stderr(), marker: []byte(marker + "\n")}
		status, err = comm.Run(ctx, &provisioners.Cmd{Command: wrapper.String(), Stdin: bytes.NewReader(s.content),
			Stdout: ui.Stdout(), Stderr: stderr})
		stderr.flush()
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
		if ctx.Err() != nil && !c.SkipClean {
			// Stopped (cancel, timeout) before the wrapper could remove
			// the script.
			p.remove(ctx, ui, comm, remote)
		}
		if errors.Is(err, provisioners.ErrDisconnected) {
			return fmt.Errorf("%s: %w (set expect_disconnect = true if the script reboots the machine)", s.name, err)
		}
		return fmt.Errorf("%s: %w", s.name, err)
	}
	if status == writeFailed && stderr.seen {
		return fmt.Errorf("%s: could not write the script to %s on the machine (its error is in the output above)", s.name, remote)
	}
	return script.Check(s.name, status, c.ValidExitCodes)
}

// newWriteMarker returns the line the wrapper prints to stderr when it
// cannot write the script: random, so that no script prints it by chance.
func newWriteMarker() string {
	return fmt.Sprintf("bake-script-not-written-%016x", rand.Uint64())
}

// markerWriter copies a command's output to w, except a line equal to
// marker, whose presence it records. Only a line that begins like the
// marker is held back, until it is told apart.
type markerWriter struct {
	w       io.Writer
	marker  []byte // with its "\n"
	mid     bool   // within a line that is not the marker
	pending []byte // the start of a line that may be the marker
	seen    bool
}

func (m *markerWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if m.mid {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				_, err := m.w.Write(p)
				return n, err
			}
			if _, err := m.w.Write(p[:i+1]); err != nil {
				return n, err
			}
			p, m.mid = p[i+1:], false
			continue
		}
		// At the start of a line; pending is a proper prefix of the
		// marker, so it holds no newline.
		k := min(len(m.marker)-len(m.pending), len(p))
		line := append(m.pending, p[:k]...)
		switch {
		case !bytes.HasPrefix(m.marker, line):
			// Not the marker: what was held goes out, and p is the rest
			// of an ordinary line.
			m.pending, m.mid = nil, true
			if _, err := m.w.Write(line[:len(line)-k]); err != nil {
				return n, err
			}
		case len(line) == len(m.marker):
			m.seen, m.pending, p = true, nil, p[k:]
		default:
			m.pending, p = line, p[k:]
		}
	}
	return n, nil
}

// flush writes what is held back: output that ended within a line that
// began like the marker.
func (m *markerWriter) flush() {
	if len(m.pending) > 0 {
		m.w.Write(m.pending)
		m.pending = nil
	}
	m.mid = false
}

// remove deletes a file the provisioner put on the machine. While ctx is
// alive it retries, as the machine may be rebooting (start_retry_timeout);
// once ctx is done (a timeout, a cancel) it makes one attempt on a context
// that outlives ctx, bounded by removeTimeout, so that the file does not
// stay in the image. A failure is reported, not returned.
func (p *Provisioner) remove(ctx context.Context, ui ui.UI, comm provisioners.Communicator, remote string) {
	var status int
	rm := func(ctx context.Context) error {
		var err error
		status, err = comm.Run(ctx, &provisioners.Cmd{Command: "rm -f '" + script.QuoteSingle(remote) + "'"})
		return err
	}
	var err error
	if ctx.Err() == nil {
		err = p.retry(ctx, ui, "remove "+remote, func() error { return rm(ctx) })
	}
	if ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
		defer cancel()
		err = rm(rctx)
	}
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
func (p *Provisioner) retry(ctx context.Context, ui ui.UI, what string, f func() error) error {
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
