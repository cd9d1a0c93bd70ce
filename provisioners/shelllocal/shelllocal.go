package shelllocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/procgroup"
	"github.com/bake-tool/bake/provisioners/internal/script"
	"github.com/bake-tool/bake/provisioners/shell"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// DefaultKillGrace is how long a cancelled command's process group has
// between SIGTERM and SIGKILL.
const DefaultKillGrace = 5 * time.Second

// ExecuteData is what each element of execute_command is rendered with.
type ExecuteData struct {
	// Script is the path of the script to run: a temporary file for
	// inline and command, else the script file as written.
	Script string
	// Vars are the environment variables, each rendered with
	// env_var_format (default "KEY='value' "), sorted by name.
	Vars string
}

// Provisioner is the shell-local provisioner: it runs inline commands, a
// command, or script files on the machine bake runs on, through
// execute_command.
//
// Each command runs in its own process group. When ctx is cancelled the
// whole group gets SIGTERM, then SIGKILL after a grace period, and
// Provision returns only when nothing of it is left running, so that no
// grandchild survives Ctrl-C. A command that exits normally may leave
// background processes behind on purpose; they are not killed.
//
// The variables reach each command in its environment, with BAKE_RUN_ID
// always the run's id. When execute_command is a POSIX shell's "-c" (the
// default is), the rendered command line, which holds the values
// ({{.Vars}}), is handed to the shell in its environment too, not in its
// arguments, which every user of the host can read (ps). Temporary
// scripts are named TempPrefix(run id)*, so that what a killed bake left
// can be found by its run id.
type Provisioner struct {
	cfg *Config
	// KillGrace is the time between SIGTERM and SIGKILL on cancel;
	// DefaultKillGrace when zero.
	KillGrace time.Duration
}

var _ provisioners.Provisioner = (*Provisioner)(nil)

// New returns the provisioner for cfg, a Config that went through Prepare.
func New(cfg *Config) *Provisioner { return &Provisioner{cfg: cfg} }

// NewProvisioner is the engine's constructor for the "shell-local"
// provisioner type: cfg must be a prepared *Config.
func NewProvisioner(cfg templates.Config, _ provisioners.BuildInfo) (provisioners.Provisioner, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("shell-local provisioner: config is %T, not *shelllocal.Config", cfg)
	}
	return New(c), nil
}

// Provision runs the block's commands on this host. Besides
// environment_vars and env, each gets PACKER_BUILD_NAME,
// PACKER_BUILDER_TYPE, BAKE_BUILD_NAME, BAKE_BUILD_TYPE and BAKE_RUN_ID.
// comm is not used.
func (p *Provisioner) Provision(ctx context.Context, ui ui.UI, _ provisioners.Communicator, info provisioners.BuildInfo) error {
	return p.run(ctx, ui, script.BuildEnv(info))
}

// PostProcessor is the shell-local post-processor: it runs the block's
// commands on this host once the build has its artifact, and returns
// that artifact unchanged. Besides the provisioner's variables, the
// commands get BAKE_ARTIFACT_ID, BAKE_ARTIFACT_BUILDER and
// BAKE_ARTIFACT_FILES (the artifact's files, one per line).
type PostProcessor struct {
	Provisioner
	info provisioners.BuildInfo
}

var _ artifacts.PostProcessor = (*PostProcessor)(nil)

// NewPost returns the post-processor for cfg, a Config that went through
// Prepare, in the build info describes.
func NewPost(cfg *Config, info provisioners.BuildInfo) *PostProcessor {
	return &PostProcessor{Provisioner: Provisioner{cfg: cfg}, info: info}
}

// NewPostProcessor is the engine's constructor for the "shell-local"
// post-processor type: cfg must be a prepared *Config.
func NewPostProcessor(cfg templates.Config, info provisioners.BuildInfo) (artifacts.PostProcessor, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("shell-local post-processor: config is %T, not *shelllocal.Config", cfg)
	}
	return NewPost(c, info), nil
}

// PostProcess runs the commands and returns in, which is always kept.
func (pp *PostProcessor) PostProcess(ctx context.Context, ui ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	env := script.BuildEnv(pp.info)
	if in != nil {
		env["BAKE_ARTIFACT_ID"] = in.ID
		env["BAKE_ARTIFACT_BUILDER"] = in.Builder
		env["BAKE_ARTIFACT_FILES"] = strings.Join(in.Files, "\n")
	}
	if err := pp.run(ctx, ui, env); err != nil {
		return nil, false, err
	}
	return in, true, nil
}

// local is one script to run.
type local struct {
	name string // for messages and errors
	path string
}

func (p *Provisioner) run(ctx context.Context, ui ui.UI, base map[string]string) error {
	c := p.cfg
	if len(c.OnlyOn) > 0 && !slices.Contains(c.OnlyOn, runtime.GOOS) {
		ui.Say(fmt.Sprintf("skipping shell-local: only_on does not include %s", runtime.GOOS))
		return nil
	}
	env := script.Env(base, c.EnvironmentVars, c.Env)
	if id, ok := base["BAKE_RUN_ID"]; ok {
		// Kept as the run's id, whatever the block says: it is how what
		// a killed bake left running is found.
		env = script.Set(env, "BAKE_RUN_ID", id)
	}
	format := c.EnvVarFormat
	if format == "" {
		format = shell.DefaultEnvVarFormat
	}
	vars := script.Render(format, env)
	execute := c.ExecuteCommand
	if len(execute) == 0 {
		execute = DefaultExecuteCommand
	}

	scripts, cleanup, err := p.scripts(base["BAKE_RUN_ID"])
	defer cleanup()
	if err != nil {
		return err
	}
	for _, s := range scripts {
		argv := make([]string, len(execute))
		for i, a := range execute {
			if argv[i], err = script.Expand(a, ExecuteData{Script: s.path, Vars: vars}); err != nil {
				return err
			}
		}
		ui.Say("running local " + s.name)
		argv, hidden := offCommandLine(argv)
		status, err := p.exec(ctx, ui, argv, append(script.Strings(env), hidden...))
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err := script.Check(s.name, status, c.ValidExitCodes); err != nil {
			return err
		}
	}
	return nil
}

// offCommandLine moves the command line of a shell's "-c" out of its
// arguments and into its environment (see provisioners.EvalCommand): the
// rendered execute_command holds the values of the variables ({{.Vars}}),
// and a process's arguments are visible to every user of the host. Only
// POSIX shells are rewritten; any other argv is returned as it is, with
// no environment to add.
func offCommandLine(argv []string) ([]string, []string) {
	if len(argv) < 3 || argv[1] != "-c" {
		return argv, nil
	}
	switch filepath.Base(argv[0]) {
	case "sh", "bash", "dash", "ash", "ksh", "mksh", "zsh":
	default:
		return argv, nil
	}
	out := slices.Clone(argv)
	out[2] = provisioners.EvalCommand
	return out, []string{provisioners.CommandVar + "=" + argv[2]}
}

// scripts returns the scripts to run; cleanup removes the temporary ones.
// A temporary script's name carries runID.
func (p *Provisioner) scripts(runID string) ([]local, func(), error) {
	c := p.cfg
	var temps []string
	cleanup := func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}
	var lines []string
	name := ""
	switch {
	case len(c.Inline) > 0:
		lines, name = c.Inline, "inline commands"
	case c.Command != "":
		lines, name = []string{c.Command}, "command"
	case c.Script != "":
		return []local{{name: c.Script, path: c.Script}}, cleanup, nil
	case len(c.Scripts) > 0:
		out := make([]local, len(c.Scripts))
		for i, s := range c.Scripts {
			out[i] = local{name: s, path: s}
		}
		return out, cleanup, nil
	default:
		return nil, cleanup, errors.New("shell-local has nothing to run: set inline, command, script or scripts")
	}
	shebang := c.InlineShebang
	if shebang == "" {
		shebang = DefaultInlineShebang
	}
	ext := c.TempfileExtension
	if ext != "" && !strings.HasPrefix(ext, ".") {
		ext = "." + ext
	}
	path, err := writeScript(TempPrefix(runID), ext, script.Inline(shebang, lines))
	if path != "" {
		temps = append(temps, path)
	}
	if err != nil {
		return nil, cleanup, fmt.Errorf("write %s to a temporary script: %w", name, err)
	}
	return []local{{name: name, path: path}}, cleanup, nil
}

// TempPrefix is how the name of a temporary script of the run runID
// starts, in os.TempDir(): "bake-shell-local-RUNID-" (characters other
// than letters, digits, '-' and '_' in the id become '_'), or
// "bake-shell-local-" without a run id. A random part and the
// tempfile_extension follow.
func TempPrefix(runID string) string {
	if runID == "" {
		return "bake-shell-local-"
	}
	safe := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, runID)
	return "bake-shell-local-" + safe + "-"
}

// writeScript writes an executable temporary script. It holds
// syscall.ForkLock while the file is open for writing: a process forked by
// another build in that window would inherit the writable descriptor until
// its exec, and executing the script meanwhile fails with "text file busy"
// (seen with 50 parallel builds).
func writeScript(prefix, ext string, content []byte) (string, error) {
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	f, err := os.CreateTemp("", prefix+"*"+ext)
	if err != nil {
		return "", err
	}
	_, err = f.Write(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o700)
	}
	return f.Name(), err
}

// exec runs argv in its own process group with output streamed to ui and
// returns its exit status (128+n for a process killed by signal n).
func (p *Provisioner) exec(ctx context.Context, ui ui.UI, argv, env []string) (int, error) {
	grace := p.KillGrace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = ui.Stdout(), ui.Stderr()
	return procgroup.Run(ctx, cmd, procgroup.Options{Grace: grace})
}
