package ansible

import (
	"os"
	"os/exec"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// Defaults, as in Packer's ansible provisioner.
const (
	DefaultCommand       = "ansible-playbook"
	DefaultGalaxyCommand = "ansible-galaxy"
	DefaultHostAlias     = "default"
	DefaultSFTPCommand   = "/usr/lib/sftp-server -e"
	// DefaultInventoryTemplate is the inventory line for the host; Host,
	// Port, User and HostAlias are filled in.
	DefaultInventoryTemplate = "{{ .HostAlias }} ansible_host={{ .Host }} ansible_user={{ .User }} ansible_port={{ .Port }}\n"
)

// Config is the ansible provisioner's block, with Packer's option names.
// max_retries and timeout are the provisioner meta-arguments every kind
// has.
type Config struct {
	// PlaybookFile is the playbook to run (required).
	PlaybookFile string `hcl:"playbook_file"`
	// Command runs the playbook; default "ansible-playbook". It may carry
	// leading arguments ("ansible-playbook -v").
	Command string `hcl:"command"`
	// ExtraArguments are passed to the command before the inventory and
	// playbook; they are interpolated by the template already.
	ExtraArguments []string `hcl:"extra_arguments"`
	// AnsibleEnvVars are "KEY=value" entries for Ansible's environment.
	AnsibleEnvVars []string `hcl:"ansible_env_vars"`
	// AnsibleSSHExtraArgs are passed as --ssh-extra-args; default
	// ["-o IdentitiesOnly=yes"].
	AnsibleSSHExtraArgs []string `hcl:"ansible_ssh_extra_args"`

	// Groups put the host in these inventory groups; EmptyGroups are
	// declared with no host.
	Groups      []string `hcl:"groups"`
	EmptyGroups []string `hcl:"empty_groups"`
	// HostAlias is the host's name in the inventory; default "default".
	HostAlias string `hcl:"host_alias"`
	// User is ansible_user; default the user running bake.
	User string `hcl:"user"`

	// GalaxyFile is a requirements file installed with GalaxyCommand
	// before the play.
	GalaxyFile          string `hcl:"galaxy_file"`
	GalaxyCommand       string `hcl:"galaxy_command"`
	GalaxyForceInstall  bool   `hcl:"galaxy_force_install"`
	GalaxyForceWithDeps bool   `hcl:"galaxy_force_with_deps"`
	RolesPath           string `hcl:"roles_path"`
	CollectionsPath     string `hcl:"collections_path"`

	// InventoryFileTemplate replaces the host's inventory line.
	InventoryFileTemplate string `hcl:"inventory_file_template"`
	// InventoryFile is a ready inventory to use instead of a generated one.
	InventoryFile string `hcl:"inventory_file"`
	// InventoryDirectory is where the generated inventory goes (default:
	// the provisioner's private temporary directory).
	InventoryDirectory string `hcl:"inventory_directory"`
	// KeepInventoryFile keeps the generated inventory after the run (only
	// with inventory_directory, since the temporary directory is removed).
	KeepInventoryFile bool `hcl:"keep_inventory_file"`

	// UseProxy serves the machine to Ansible on a loopback SSH endpoint;
	// default true, as in Packer. With false, Ansible connects to the
	// machine's SSH address with the build's key (the proxy is used when
	// the build has no SSH address, as for docker).
	UseProxy *bool `hcl:"use_proxy"`
	// LocalPort is the proxy's port; 0 picks a free one.
	LocalPort int `hcl:"local_port"`
	// UseSFTP makes Ansible transfer files with sftp instead of scp.
	UseSFTP bool `hcl:"use_sftp"`
	// SFTPCmd is accepted for compatibility: bake's proxy serves sftp
	// itself.
	SFTPCmd string `hcl:"sftp_command"`
	// SkipVersionCheck is accepted for compatibility.
	SkipVersionCheck bool `hcl:"skip_version_check"`
	// Packer's adapter key options are not needed: the proxy always uses
	// a fresh ed25519 key.

	// SkipSyntaxCheck turns off the `ansible-playbook --syntax-check`
	// bake runs at validate when the command is installed.
	SkipSyntaxCheck bool `hcl:"skip_syntax_check"`
}

var _ templates.Config = (*Config)(nil)

// Prepare validates the block, fills in defaults and, when Ansible is
// installed and the playbook needs no role galaxy_file would install,
// runs the playbook through `--syntax-check`.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.Required(diags, "playbook_file")
	if b.Known("playbook_file") && c.PlaybookFile != "" {
		if fi, err := os.Stat(c.PlaybookFile); err != nil || fi.IsDir() {
			diags = append(diags, b.Errorf("playbook_file", "Invalid value", "%q is not a readable file.", c.PlaybookFile))
		}
	}
	if b.Known("galaxy_file") && c.GalaxyFile != "" {
		if fi, err := os.Stat(c.GalaxyFile); err != nil || fi.IsDir() {
			diags = append(diags, b.Errorf("galaxy_file", "Invalid value", "%q is not a readable file.", c.GalaxyFile))
		}
	}
	if b.Known("inventory_directory") && c.InventoryDirectory != "" {
		if fi, err := os.Stat(c.InventoryDirectory); err != nil || !fi.IsDir() {
			diags = append(diags, b.Errorf("inventory_directory", "Invalid value", "%q is not a directory.", c.InventoryDirectory))
		}
	}
	if b.Known("local_port") && (c.LocalPort < 0 || c.LocalPort > 65535) {
		diags = append(diags, b.Errorf("local_port", "Invalid value", "%d is not a TCP port.", c.LocalPort))
	}
	if b.Known("ansible_env_vars") {
		for i, e := range c.AnsibleEnvVars {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				diags = append(diags, b.ElementErrorf("ansible_env_vars", i, "Invalid value", "Each entry is KEY=value; entry %d has no key.", i))
			}
		}
	}
	if b.Has("keep_inventory_file") && c.KeepInventoryFile && c.InventoryDirectory == "" {
		diags = append(diags, b.Warning("keep_inventory_file", "Option ignored",
			`Without "inventory_directory" the inventory lives in a private temporary directory that is removed after the run.`))
	}
	if b.Has("inventory_file_template") && b.Known("inventory_file_template") {
		diags = b.CheckTextTemplate(diags, "inventory_file_template", c.InventoryFileTemplate)
	}
	c.setDefaults()
	if !diags.HasErrors() && !c.SkipSyntaxCheck && c.GalaxyFile == "" && b.Known("playbook_file") && judged(b, "command", "extra_arguments", "ansible_env_vars", "roles_path") {
		if msg := syntaxCheck(c); msg != "" {
			diags = append(diags, b.Errorf("playbook_file", "Playbook syntax error", "ansible-playbook --syntax-check refused %q:\n%s", c.PlaybookFile, msg))
		}
	}
	return diags
}

// judged reports whether none of names is unknown or invalid (unset is
// fine).
func judged(b *templates.Body, names ...string) bool {
	for _, n := range names {
		if b.Has(n) && !b.Known(n) {
			return false
		}
	}
	return true
}

// setDefaults fills in Packer's defaults for what the block left empty.
func (c *Config) setDefaults() {
	if c.Command == "" {
		c.Command = DefaultCommand
	}
	if c.GalaxyCommand == "" {
		c.GalaxyCommand = DefaultGalaxyCommand
	}
	if c.HostAlias == "" {
		c.HostAlias = DefaultHostAlias
	}
	if c.SFTPCmd == "" {
		c.SFTPCmd = DefaultSFTPCommand
	}
}

// syntaxCheck runs the playbook through `--syntax-check` when the command
// is installed and returns Ansible's error lines, or "" when it passed or
// could not tell.
func syntaxCheck(c *Config) string {
	argv := strings.Fields(c.Command)
	if len(argv) == 0 {
		return ""
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return ""
	}
	args := append(argv[1:len(argv):len(argv)], "--syntax-check", "-i", c.HostAlias+",")
	args = append(args, c.ExtraArguments...)
	args = append(args, c.PlaybookFile)
	cmd := exec.Command(argv[0], args...)
	cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1")
	cmd.Env = append(cmd.Env, c.AnsibleEnvVars...)
	if c.RolesPath != "" {
		cmd.Env = append(cmd.Env, "ANSIBLE_ROLES_PATH="+c.RolesPath)
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		return ""
	}
	if _, ok := err.(*exec.ExitError); !ok {
		return ""
	}
	return errorLines(string(out))
}

// errorLines returns the lines from Ansible's first "ERROR!" on, at most
// ten, or "" when there is none.
func errorLines(out string) string {
	i := strings.Index(out, "ERROR!")
	if i < 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(out[i:]), "\n")
	if len(lines) > 10 {
		lines = lines[:10]
	}
	return strings.Join(lines, "\n")
}
