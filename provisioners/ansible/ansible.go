package ansible

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	gossh "golang.org/x/crypto/ssh"

	bakessh "github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/communicator/sshproxy"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/playlog"
	"github.com/bake-tool/bake/provisioners/internal/procgroup"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// killGrace is how long Ansible's process group has between SIGTERM and
// SIGKILL when the step is cancelled.
const killGrace = 5 * time.Second

// Provisioner is the ansible provisioner; see the package comment.
//
// Provision returns only when ansible-playbook and everything it started
// in its process group have exited, the proxy is closed and the temporary
// directory is removed, on success, failure and cancel alike.
type Provisioner struct {
	cfg *Config
	// started, when set, is called with the proxy once it listens (tests).
	started func(*sshproxy.Server)
}

var _ provisioners.Provisioner = (*Provisioner)(nil)

// New returns the provisioner for cfg, a Config that went through Prepare.
func New(cfg *Config) *Provisioner { return &Provisioner{cfg: cfg} }

// NewProvisioner is the engine's constructor for the "ansible"
// provisioner type: cfg must be a prepared *Config.
func NewProvisioner(cfg templates.Config, _ provisioners.BuildInfo) (provisioners.Provisioner, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("ansible provisioner: config is %T, not *ansible.Config", cfg)
	}
	return New(c), nil
}

// TempPrefix is how the name of the provisioner's temporary directory
// for the run runID starts, in os.TempDir().
func TempPrefix(runID string) string {
	safe := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, runID)
	if safe == "" {
		return "bake-ansible-"
	}
	return "bake-ansible-" + safe + "-"
}

// inventoryData is what inventory_file_template is rendered with.
type inventoryData struct {
	HostAlias, Host, User string
	Port                  int
}

// Provision runs the playbook against the machine behind comm.
func (p *Provisioner) Provision(ctx context.Context, ui ui.UI, comm provisioners.Communicator, info provisioners.BuildInfo) error {
	c := p.cfg
	tmp, err := os.MkdirTemp("", TempPrefix(info.RunID)) // 0700
	if err != nil {
		return fmt.Errorf("ansible: temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	cpDir, err := controlDir(tmp, info.RunID)
	if err != nil {
		return err
	}
	if cpDir != filepath.Join(tmp, "cp") {
		defer os.RemoveAll(cpDir)
	}
	// Ansible's SSH control masters (ControlPersist) outlive it, detached
	// from its process group; ask each to exit before the socket
	// directory goes.
	defer stopMasters(cpDir)

	useProxy := c.UseProxy == nil || *c.UseProxy || info.Host == ""
	data := inventoryData{HostAlias: c.HostAlias, User: c.User}
	keyFile := filepath.Join(tmp, "id_ed25519")
	if useProxy {
		if comm == nil {
			return errors.New("ansible: the build has no communicator for the proxy to serve")
		}
		kp, err := bakessh.GenerateKeyPair()
		if err != nil {
			return fmt.Errorf("ansible: %w", err)
		}
		pub, _, _, _, err := gossh.ParseAuthorizedKey(kp.AuthorizedKey)
		if err != nil {
			return fmt.Errorf("ansible: proxy key: %w", err)
		}
		if err := os.WriteFile(keyFile, kp.PrivateKey, 0o600); err != nil {
			return fmt.Errorf("ansible: write proxy key: %w", err)
		}
		srv, err := sshproxy.Start(ctx, comm, pub, c.LocalPort)
		if err != nil {
			return fmt.Errorf("ansible: %w", err)
		}
		defer srv.Close()
		if p.started != nil {
			p.started(srv)
		}
		data.Host, data.Port = "127.0.0.1", srv.Port()
		if data.User == "" {
			data.User = currentUser()
		}
		ui.Say(fmt.Sprintf("ansible: serving the machine on 127.0.0.1:%d", data.Port))
	} else {
		data.Host, data.Port = info.Host, info.Port
		if data.Port == 0 {
			data.Port = 22
		}
		if data.User == "" {
			data.User = info.User
		}
		if data.User == "" {
			data.User = currentUser()
		}
		if info.SSHPrivateKey != "" {
			if err := os.WriteFile(keyFile, []byte(info.SSHPrivateKey), 0o600); err != nil {
				return fmt.Errorf("ansible: write the build's key: %w", err)
			}
		} else {
			keyFile = ""
		}
	}

	inventory := c.InventoryFile
	if inventory == "" {
		inventory, err = p.writeInventory(tmp, data)
		if err != nil {
			return err
		}
		if c.InventoryDirectory != "" && !c.KeepInventoryFile {
			defer os.Remove(inventory)
		}
	}

	env := []string{
		"ANSIBLE_HOST_KEY_CHECKING=False",
		"ANSIBLE_SSH_CONTROL_PATH_DIR=" + cpDir,
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(tmp, "local"),
		"ANSIBLE_NOCOLOR=1",
		"PYTHONUNBUFFERED=1",
	}
	if !c.UseSFTP {
		env = append(env, "ANSIBLE_SCP_IF_SSH=True")
	}
	if c.RolesPath != "" {
		env = append(env, "ANSIBLE_ROLES_PATH="+c.RolesPath)
	}
	if c.CollectionsPath != "" {
		env = append(env, "ANSIBLE_COLLECTIONS_PATH="+c.CollectionsPath)
	}
	env = append(env, c.AnsibleEnvVars...)
	if info.RunID != "" {
		// Last, so it wins: how bake gc finds what a killed run left.
		env = append(env, "BAKE_RUN_ID="+info.RunID)
	}

	if c.GalaxyFile != "" {
		if err := p.galaxy(ctx, ui, env); err != nil {
			return err
		}
	}

	argv := strings.Fields(c.Command)
	if len(argv) == 0 {
		argv = []string{DefaultCommand}
	}
	args := append([]string(nil), argv[1:]...)
	if info.BuildName != "" || info.SourceName != "" {
		args = append(args, "-e", "packer_build_name="+info.SourceName)
	}
	args = append(args, "-e", "packer_builder_type="+info.Type)
	if keyFile != "" {
		args = append(args, "--ssh-extra-args", sshExtraArgs(c.AnsibleSSHExtraArgs))
	}
	args = append(args, c.ExtraArguments...)
	if keyFile != "" {
		args = append(args, "-e", "ansible_ssh_private_key_file="+keyFile)
	}
	args = append(args, "-i", inventory, c.PlaybookFile)

	ui.Say("ansible: running " + filepath.Base(c.PlaybookFile))
	tr := &playlog.Tracker{}
	status, err := runGroup(ctx, ui, tr, argv[0], args, env)
	if err != nil {
		return fmt.Errorf("ansible: %w", err)
	}
	if status != 0 {
		if f := tr.Failure(); f != "" {
			return fmt.Errorf("ansible: %s (%s exit status %d)", f, filepath.Base(argv[0]), status)
		}
		return fmt.Errorf("ansible: %s exited with status %d", filepath.Base(argv[0]), status)
	}
	return nil
}

// sshExtraArgs is the value of --ssh-extra-args: the user's
// ansible_ssh_extra_args each single-quoted as Packer passes them, else
// "-o IdentitiesOnly=yes"; then "-o UserKnownHostsFile=/dev/null", since
// the host key is new on each run (the proxy's) or the machine's, which
// is temporary, and neither belongs in the user's known_hosts.
func sshExtraArgs(user []string) string {
	s := "-o IdentitiesOnly=yes"
	if len(user) > 0 {
		s = "'" + strings.Join(user, "' '") + "'"
	}
	return s + " -o UserKnownHostsFile=/dev/null"
}

// maxControlDir is the longest directory Ansible's SSH control sockets
// fit in: ssh binds DIR/HASH.RANDOM (1+10+17 bytes after DIR) and a Unix
// socket's path is at most 103 bytes on macOS and the BSDs (107 on Linux).
const maxControlDir = 103 - 28

// controlDir returns the directory for Ansible's SSH control sockets:
// tmp/cp, or, when a long $TMPDIR makes that too long for a socket's
// path (ssh then fails with "too long for Unix domain socket" and Ansible
// reports the host unreachable), a private directory of its own in /tmp,
// which the caller removes.
func controlDir(tmp, runID string) (string, error) {
	dir := filepath.Join(tmp, "cp")
	if len(dir) <= maxControlDir {
		return dir, nil
	}
	prefix := TempPrefix(runID)
	if len("/tmp/"+prefix)+10 > maxControlDir {
		prefix = "bake-ansible-cp-"
	}
	dir, err := os.MkdirTemp("/tmp", prefix) // 0700
	if err != nil {
		return "", fmt.Errorf("ansible: directory for SSH control sockets: %w", err)
	}
	return dir, nil
}

// stopMasters asks each SSH control master with a socket in dir to exit
// ("ssh -O exit"), and waits for it to go.
func stopMasters(dir string) {
	socks, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, s := range socks {
		ctx, cancel := context.WithTimeout(context.Background(), killGrace)
		exec.CommandContext(ctx, "ssh", "-O", "exit", "-o", "ControlPath="+s, "bake-control-master").Run()
		cancel()
	}
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// writeInventory writes the generated inventory and returns its path.
func (p *Provisioner) writeInventory(tmp string, data inventoryData) (string, error) {
	c := p.cfg
	text := c.InventoryFileTemplate
	if text == "" {
		text = DefaultInventoryTemplate
	}
	t, err := template.New("inventory").Parse(text)
	if err != nil {
		return "", fmt.Errorf("ansible: inventory_file_template: %w", err)
	}
	var host bytes.Buffer
	if err := t.Execute(&host, data); err != nil {
		return "", fmt.Errorf("ansible: inventory_file_template: %w", err)
	}
	var inv bytes.Buffer
	inv.Write(host.Bytes())
	for _, g := range c.Groups {
		fmt.Fprintf(&inv, "[%s]\n%s", g, host.Bytes())
	}
	for _, g := range c.EmptyGroups {
		fmt.Fprintf(&inv, "[%s]\n", g)
	}
	dir := tmp
	if c.InventoryDirectory != "" {
		dir = c.InventoryDirectory
	}
	f, err := os.CreateTemp(dir, "bake-provisioner-ansible")
	if err != nil {
		return "", fmt.Errorf("ansible: inventory: %w", err)
	}
	_, werr := f.Write(inv.Bytes())
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("ansible: inventory: %w", werr)
	}
	return f.Name(), nil
}

var galaxyRoles = regexp.MustCompile(`(?m)^roles:`)
var galaxyCollections = regexp.MustCompile(`(?m)^collections:`)

// galaxy installs galaxy_file's roles and collections, as Packer does.
func (p *Provisioner) galaxy(ctx context.Context, ui ui.UI, env []string) error {
	c := p.cfg
	req, err := os.ReadFile(c.GalaxyFile)
	if err != nil {
		return fmt.Errorf("ansible: galaxy_file: %w", err)
	}
	roles := []string{"install", "-r", c.GalaxyFile}
	colls := []string{"collection", "install", "-r", c.GalaxyFile}
	if c.GalaxyForceInstall {
		roles, colls = append(roles, "-f"), append(colls, "-f")
	}
	if c.GalaxyForceWithDeps {
		roles, colls = append(roles, "--force-with-deps"), append(colls, "--force-with-deps")
	}
	if c.RolesPath != "" {
		roles = append(roles, "-p", c.RolesPath)
	}
	if c.CollectionsPath != "" {
		colls = append(colls, "-p", c.CollectionsPath)
	}
	argv := strings.Fields(c.GalaxyCommand)
	if len(argv) == 0 {
		argv = []string{DefaultGalaxyCommand}
	}
	var runs [][]string
	if galaxyRoles.Match(req) || !galaxyCollections.Match(req) {
		runs = append(runs, roles)
	}
	if galaxyCollections.Match(req) {
		runs = append(runs, colls)
	}
	for _, r := range runs {
		ui.Say("ansible: installing " + r[0] + " requirements with " + filepath.Base(argv[0]))
		status, err := runGroup(ctx, ui, nil, argv[0], append(argv[1:len(argv):len(argv)], r...), env)
		if err != nil {
			return fmt.Errorf("ansible galaxy: %w", err)
		}
		if status != 0 {
			return fmt.Errorf("ansible galaxy: %s exited with status %d", filepath.Base(argv[0]), status)
		}
	}
	return nil
}

// runGroup runs name with args in its own process group, output streamed
// to ui (and stdout also to tr), and returns its exit status. On cancel
// the group gets SIGTERM, then SIGKILL after killGrace; runGroup returns
// only when the group is gone.
func runGroup(ctx context.Context, ui ui.UI, tr io.Writer, name string, args, env []string) (int, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout io.Writer = ui.Stdout()
	if tr != nil {
		stdout = io.MultiWriter(stdout, tr)
	}
	cmd.Stdout, cmd.Stderr = stdout, ui.Stderr()
	return procgroup.Run(ctx, cmd, procgroup.Options{Grace: killGrace, Reap: true})
}
