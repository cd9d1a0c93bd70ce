package ansiblelocal

import (
	"os"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// DefaultCommand runs a playbook, as in Packer.
const DefaultCommand = "ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook"

// DefaultGalaxyCommand installs galaxy_file's roles.
const DefaultGalaxyCommand = "ansible-galaxy"

// DefaultStagingParent is where the default staging directory is made.
const DefaultStagingParent = "/tmp/packer-provisioner-ansible-local"

// Config is the ansible-local provisioner's block, with Packer's option
// names.
type Config struct {
	// Exactly one of PlaybookFile and PlaybookFiles is required.
	PlaybookFile  string   `hcl:"playbook_file"`
	PlaybookFiles []string `hcl:"playbook_files"`
	// PlaybookDir is uploaded as the staging directory's content.
	PlaybookDir string `hcl:"playbook_dir"`
	// PlaybookPaths are directories uploaded into the staging directory.
	PlaybookPaths []string `hcl:"playbook_paths"`
	// RolePaths are role directories uploaded into staging/roles.
	RolePaths []string `hcl:"role_paths"`
	// GroupVars and HostVars are uploaded as staging/group_vars and
	// staging/host_vars.
	GroupVars string `hcl:"group_vars"`
	HostVars  string `hcl:"host_vars"`
	// GalaxyFile is installed on the machine into staging/roles before
	// the play, with GalaxyCommand.
	GalaxyFile    string `hcl:"galaxy_file"`
	GalaxyCommand string `hcl:"galaxy_command"`
	// InventoryGroups put 127.0.0.1 into these groups of the generated
	// inventory; InventoryFile replaces the generated inventory.
	InventoryGroups []string `hcl:"inventory_groups"`
	InventoryFile   string   `hcl:"inventory_file"`
	// ExtraArguments are added to the command line, each quoted.
	ExtraArguments []string `hcl:"extra_arguments"`
	// StagingDir is where files go on the machine; default a new
	// directory under /tmp/packer-provisioner-ansible-local.
	StagingDir string `hcl:"staging_directory"`
	// CleanStagingDir removes the staging directory after the play.
	// bake's default is true (Packer's is false, which leaves the
	// playbooks in the image).
	CleanStagingDir *bool `hcl:"clean_staging_directory"`
	// Command runs each playbook; a shell command line.
	Command string `hcl:"command"`
}

var _ templates.Config = (*Config)(nil)

// Prepare validates the block and fills in defaults.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.ExactlyOne(diags, "playbook_file", "playbook_files")
	file := func(name, p string) {
		if b.Known(name) && p != "" {
			if fi, err := os.Stat(p); err != nil || fi.IsDir() {
				diags = append(diags, b.Errorf(name, "Invalid value", "%q is not a readable file.", p))
			}
		}
	}
	dir := func(name string, i int, p string) {
		if !b.Known(name) || p == "" {
			return
		}
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			if i < 0 {
				diags = append(diags, b.Errorf(name, "Invalid value", "%q is not a directory.", p))
			} else {
				diags = append(diags, b.ElementErrorf(name, i, "Invalid value", "%q is not a directory.", p))
			}
		}
	}
	file("playbook_file", c.PlaybookFile)
	for i, p := range c.PlaybookFiles {
		if b.Known("playbook_files") {
			if fi, err := os.Stat(p); err != nil || fi.IsDir() {
				diags = append(diags, b.ElementErrorf("playbook_files", i, "Invalid value", "%q is not a readable file.", p))
			}
		}
	}
	file("galaxy_file", c.GalaxyFile)
	file("inventory_file", c.InventoryFile)
	dir("playbook_dir", -1, c.PlaybookDir)
	dir("group_vars", -1, c.GroupVars)
	dir("host_vars", -1, c.HostVars)
	for i, p := range c.PlaybookPaths {
		dir("playbook_paths", i, p)
	}
	for i, p := range c.RolePaths {
		dir("role_paths", i, p)
	}
	c.setDefaults()
	return diags
}

func (c *Config) setDefaults() {
	if c.Command == "" {
		c.Command = DefaultCommand
	}
	if c.GalaxyCommand == "" {
		c.GalaxyCommand = DefaultGalaxyCommand
	}
	if c.CleanStagingDir == nil {
		t := true
		c.CleanStagingDir = &t
	}
}
