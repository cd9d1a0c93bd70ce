package shelllocal

import (
	"runtime"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/provisioners/shell"
	"github.com/bake-tool/bake/templates"
)

// Defaults filled in by Prepare.
var (
	// DefaultExecuteCommand runs the script with its variables.
	DefaultExecuteCommand = []string{"/bin/sh", "-c", "{{.Vars}} {{.Script}}"}
)

// DefaultInlineShebang starts the script made from Inline or Command.
const DefaultInlineShebang = "/bin/sh -e"

// knownOS are the values only_on may name (Go's GOOS values).
var knownOS = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js",
	"linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}

// Config is the shell-local block, as a provisioner or a post-processor,
// with Packer's option names.
type Config struct {
	// Exactly one of Inline, Script, Scripts and Command is what to run.
	Inline  []string `hcl:"inline"`
	Script  string   `hcl:"script"`
	Scripts []string `hcl:"scripts"`
	Command string   `hcl:"command"`

	// EnvironmentVars are "KEY=value" entries; Env is the same as a map.
	EnvironmentVars []string          `hcl:"environment_vars"`
	Env             map[string]string `hcl:"env"`
	EnvVarFormat    string            `hcl:"env_var_format"`

	// ExecuteCommand is the argv that runs each script; {{.Script}} is the
	// script's path and {{.Vars}} the variables. Default
	// ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"].
	ExecuteCommand []string `hcl:"execute_command"`
	// InlineShebang starts the script made from Inline; default "/bin/sh -e".
	InlineShebang string `hcl:"inline_shebang"`
	// TempfileExtension is the extension of the temporary script file.
	TempfileExtension string `hcl:"tempfile_extension"`
	// OnlyOn limits the step to these host operating systems (GOOS names);
	// on others it is skipped.
	OnlyOn []string `hcl:"only_on"`
	// UseLinuxPathing converts script paths for WSL on Windows.
	UseLinuxPathing bool `hcl:"use_linux_pathing"`
	// ValidExitCodes are the statuses counted as success; default [0].
	ValidExitCodes []int `hcl:"valid_exit_codes"`
}

var _ templates.Config = (*Config)(nil)

// Prepare validates the block and fills in defaults.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.ExactlyOne(diags, "inline", "script", "scripts", "command")
	if b.Known("inline") && len(c.Inline) == 0 {
		diags = append(diags, b.Error("inline", "Invalid value", `"inline" is empty: give at least one command.`))
	}
	diags = shell.CheckScripts(b, diags, c.Script, c.Scripts)
	diags = shell.CheckEnv(b, diags, c.EnvironmentVars, c.Env)
	if !b.Has("env_var_format") {
		c.EnvVarFormat = shell.DefaultEnvVarFormat
	}
	if !b.Has("execute_command") {
		c.ExecuteCommand = append([]string(nil), DefaultExecuteCommand...)
	} else if b.Known("execute_command") {
		if len(c.ExecuteCommand) == 0 {
			diags = append(diags, b.Error("execute_command", "Invalid value",
				`"execute_command" is empty; it is the command line that runs a script, like ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"].`))
		}
		joined := strings.Join(c.ExecuteCommand, " ")
		diags = b.CheckTextTemplate(diags, "execute_command", joined)
		if !strings.Contains(joined, "{{.Script}}") && !strings.Contains(joined, "{{ .Script }}") {
			diags = append(diags, b.Warning("execute_command", "Script not referenced",
				`"execute_command" does not contain {{.Script}}, so the script itself will not run.`))
		}
	}
	if !b.Has("inline_shebang") {
		c.InlineShebang = DefaultInlineShebang
	}
	if b.Known("only_on") {
		for i, o := range c.OnlyOn {
			ok := false
			for _, k := range knownOS {
				if o == k {
					ok = true
				}
			}
			if !ok {
				detail := "%q is not an operating system name Go knows (like \"linux\", \"darwin\", \"windows\"), so the step would never run."
				args := []any{o}
				if s := templates.Suggest(o, knownOS); s != "" {
					detail += " Did you mean %q?"
					args = append(args, s)
				}
				diags = append(diags, b.ElementErrorf("only_on", i, "Invalid value", detail, args...))
			}
		}
	}
	if b.Has("use_linux_pathing") && runtime.GOOS != "windows" && c.UseLinuxPathing {
		diags = append(diags, b.Warning("use_linux_pathing", "Option ignored", `"use_linux_pathing" only matters on Windows hosts.`))
	}
	diags = shell.CheckExitCodes(b, diags, &c.ValidExitCodes)
	return diags
}
