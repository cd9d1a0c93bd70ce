package shell

import (
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// Defaults filled in by Prepare.
const (
	DefaultExecuteCommand    = "chmod +x {{.Path}}; {{.Vars}} {{.Path}}"
	DefaultInlineShebang     = "/bin/sh -e"
	DefaultRemoteFolder      = "/tmp"
	DefaultStartRetryTimeout = 5 * time.Minute
	DefaultEnvVarFormat      = "%s='%s' "
)

// Config is the shell provisioner's block, with Packer's option names.
type Config struct {
	// Exactly one of Inline, Script and Scripts is the code to run.
	Inline  []string `hcl:"inline"`
	Script  string   `hcl:"script"`
	Scripts []string `hcl:"scripts"`

	// EnvironmentVars are "KEY=value" entries; Env is the same as a map.
	EnvironmentVars []string          `hcl:"environment_vars"`
	Env             map[string]string `hcl:"env"`
	// EnvVarFormat renders one variable for {{.Vars}}; default "%s='%s' ".
	EnvVarFormat string `hcl:"env_var_format"`
	// UseEnvVarFile writes the variables to a file the command sources
	// instead of putting them on the command line.
	UseEnvVarFile bool `hcl:"use_env_var_file"`

	// ExecuteCommand runs an uploaded script; {{.Path}} is the script and
	// {{.Vars}} the variables. Default "chmod +x {{.Path}}; {{.Vars}} {{.Path}}".
	ExecuteCommand string `hcl:"execute_command"`
	// InlineShebang starts the script made from Inline; default "/bin/sh -e".
	InlineShebang string `hcl:"inline_shebang"`
	// Binary uploads the scripts as they are, without line-ending fixes.
	Binary bool `hcl:"binary"`

	// RemoteFolder is where scripts are uploaded; default "/tmp".
	RemoteFolder string `hcl:"remote_folder"`
	// RemoteFile is the uploaded script's name; when empty the provisioner
	// picks a name unique to the build and script.
	RemoteFile string `hcl:"remote_file"`
	// RemotePath, when set, is the full path of the uploaded script and
	// wins over RemoteFolder and RemoteFile.
	RemotePath string `hcl:"remote_path"`

	// ExpectDisconnect treats a lost connection as success (a reboot).
	ExpectDisconnect bool `hcl:"expect_disconnect"`
	// ValidExitCodes are the statuses counted as success; default [0].
	ValidExitCodes []int `hcl:"valid_exit_codes"`
	// SkipClean leaves the uploaded scripts on the machine.
	SkipClean bool `hcl:"skip_clean"`
	// StartRetryTimeout bounds the retries of starting a script while the
	// machine is (re)connecting; default 5m.
	StartRetryTimeout time.Duration `hcl:"start_retry_timeout"`
	// PauseAfter waits this long after the last script.
	PauseAfter time.Duration `hcl:"pause_after"`
}

var _ templates.Config = (*Config)(nil)

// Prepare validates the block and fills in defaults.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.ExactlyOne(diags, "inline", "script", "scripts")
	if b.Known("inline") && len(c.Inline) == 0 {
		diags = append(diags, b.Error("inline", "Invalid value", `"inline" is empty: give at least one command.`))
	}
	if b.Known("scripts") && len(c.Scripts) == 0 {
		diags = append(diags, b.Error("scripts", "Invalid value", `"scripts" is empty: give at least one script file.`))
	}
	diags = CheckScripts(b, diags, c.Script, c.Scripts)
	diags = CheckEnv(b, diags, c.EnvironmentVars, c.Env)

	if !b.Has("execute_command") {
		c.ExecuteCommand = DefaultExecuteCommand
	} else {
		diags = b.CheckTextTemplate(diags, "execute_command", c.ExecuteCommand)
	}
	if !b.Has("env_var_format") {
		c.EnvVarFormat = DefaultEnvVarFormat
	} else if b.Known("env_var_format") && strings.Count(c.EnvVarFormat, "%s") != 2 {
		diags = append(diags, b.Error("env_var_format", "Invalid value",
			`"env_var_format" must contain "%s" twice: once for the name, once for the value.`))
	}
	if !b.Has("inline_shebang") {
		c.InlineShebang = DefaultInlineShebang
	}
	if b.Has("inline_shebang") && !b.Has("inline") {
		diags = append(diags, b.Warning("inline_shebang", "Option ignored", `"inline_shebang" only applies to "inline" commands.`))
	}
	if !b.Has("remote_folder") {
		c.RemoteFolder = DefaultRemoteFolder
	}
	if b.Has("remote_path") {
		for _, n := range []string{"remote_folder", "remote_file"} {
			if b.Has(n) {
				diags = append(diags, b.Warningf(n, "Option ignored", `%q has no effect when "remote_path" is set.`, n))
			}
		}
	}
	diags = CheckExitCodes(b, diags, &c.ValidExitCodes)
	if !b.Has("start_retry_timeout") {
		c.StartRetryTimeout = DefaultStartRetryTimeout
	}
	return diags
}

// CheckScripts reports, at the attribute or list element, each script
// file (script, scripts) that cannot be read. shell-local shares it.
func CheckScripts(b *templates.Body, diags hcl.Diagnostics, script string, scripts []string) hcl.Diagnostics {
	if b.Known("script") {
		if err := templates.CheckReadable(script, false); err != nil {
			diags = append(diags, b.Errorf("script", "Script file not found", "%s.", capital(err.Error())))
		}
	}
	if b.Known("scripts") {
		for i, s := range scripts {
			if err := templates.CheckReadable(s, false); err != nil {
				diags = append(diags, b.ElementErrorf("scripts", i, "Script file not found", "%s.", capital(err.Error())))
			}
		}
	}
	return diags
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckEnv checks environment_vars entries ("KEY=value") and env keys.
func CheckEnv(b *templates.Body, diags hcl.Diagnostics, vars []string, env map[string]string) hcl.Diagnostics {
	if b.Known("environment_vars") {
		for i, kv := range vars {
			k, _, ok := strings.Cut(kv, "=")
			switch {
			case !ok:
				diags = append(diags, b.ElementErrorf("environment_vars", i, "Invalid environment variable",
					"%q is not in the form \"KEY=value\".", kv))
			case !envNameRE.MatchString(k):
				diags = append(diags, b.ElementErrorf("environment_vars", i, "Invalid environment variable",
					"%q is not a valid variable name: use letters, digits and '_', not starting with a digit.", k))
			}
		}
	}
	if b.Known("env") {
		for k := range env {
			if !envNameRE.MatchString(k) {
				diags = append(diags, b.KeyErrorf("env", k, "Invalid environment variable",
					"%q is not a valid variable name: use letters, digits and '_', not starting with a digit.", k))
			}
		}
	}
	return diags
}

// CheckExitCodes defaults valid_exit_codes to [0].
func CheckExitCodes(b *templates.Body, diags hcl.Diagnostics, codes *[]int) hcl.Diagnostics {
	if !b.Has("valid_exit_codes") {
		*codes = []int{0}
		return diags
	}
	if b.Known("valid_exit_codes") && len(*codes) == 0 {
		diags = append(diags, b.Error("valid_exit_codes", "Invalid value", `"valid_exit_codes" is empty, so every script would fail; leave it out for [0].`))
	}
	return diags
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
