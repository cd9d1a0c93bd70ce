package docker

import (
	"path"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/templates"
)

// DefaultContainerDir is where files are staged inside the container.
const DefaultContainerDir = "/packer-files"

// Config is the docker source's block, with Packer's option names.
type Config struct {
	// Communicator is "docker" (exec through the engine, the default) or
	// "none".
	Communicator string `hcl:"communicator"`

	// Image is the base image reference; required.
	Image string `hcl:"image"`
	// Pull pulls Image before use; default true. With false the image must
	// be present locally.
	Pull *bool `hcl:"pull"`
	// Platform is "os/arch[/variant]" for the pull and the container.
	Platform string `hcl:"platform"`

	// Exactly one of Commit, ExportPath and Discard says what the build
	// produces.
	Commit     bool   `hcl:"commit"`
	ExportPath string `hcl:"export_path"`
	Discard    bool   `hcl:"discard"`
	// Changes are Dockerfile instructions applied at commit.
	Changes []string `hcl:"changes"`
	Author  string   `hcl:"author"`
	Message string   `hcl:"message"`
	// Squash keeps the committed image at one layer over the base image
	// even when the build cache is on: a changed build then runs every
	// step from the base instead of resuming from a kept step's image
	// (which would add that image's layer). bake's own option.
	Squash bool `hcl:"squash"`

	Privileged bool `hcl:"privileged"`
	// Volumes maps host paths to container paths.
	Volumes map[string]string `hcl:"volumes"`
	CapAdd  []string          `hcl:"cap_add"`
	CapDrop []string          `hcl:"cap_drop"`
	// Devices are "host[:container[:permissions]]". Packer names the
	// option "device"; "devices" is accepted too and appended by Prepare.
	Devices      []string `hcl:"device"`
	DevicesAlias []string `hcl:"devices"`
	// Tmpfs are "path[:options]".
	Tmpfs   []string `hcl:"tmpfs"`
	Runtime string   `hcl:"runtime"`
	// RunCommand is Packer's `docker run` argument list. bake does not run
	// the docker CLI; it is accepted and ignored with a warning.
	RunCommand []string `hcl:"run_command"`

	// ContainerDir is where uploads are staged; default /packer-files.
	ContainerDir string `hcl:"container_dir"`
	// ExecUser runs commands (and owns uploads) as this user.
	ExecUser string `hcl:"exec_user"`
	// FixUploadOwner gives uploaded files to ExecUser; default true.
	FixUploadOwner *bool `hcl:"fix_upload_owner"`

	LoginConfig

	// EngineConfig is docker_host and its TLS options (engine.go).
	EngineConfig
}

var _ templates.Config = (*Config)(nil)

// LoginConfig is the registry login options the builder (for pulls) and
// docker-push share.
type LoginConfig struct {
	Login         bool   `hcl:"login"`
	LoginServer   string `hcl:"login_server"`
	LoginUsername string `hcl:"login_username"`
	LoginPassword string `hcl:"login_password"`

	// ECR login is accepted for compatibility but not supported.
	ECRLogin bool `hcl:"ecr_login"`
	AWSAuth
}

// login is the credentials to send, as the push and pull code takes them.
func (c LoginConfig) login() login {
	return login{Enabled: c.Login, Server: c.LoginServer, Username: c.LoginUsername, Password: c.LoginPassword}
}

// AWSAuth is Packer's options for Amazon ECR login, accepted so that
// templates load, and not supported.
type AWSAuth struct {
	AccessKey string `hcl:"aws_access_key"`
	SecretKey string `hcl:"aws_secret_key"`
	Token     string `hcl:"aws_token"`
	Profile   string `hcl:"aws_profile"`
}

// Prepare validates the docker block and fills in defaults.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !b.Has("communicator") {
		c.Communicator = communicator.Docker
	} else if b.Known("communicator") {
		if c.Communicator == communicator.SSH {
			diags = append(diags, b.Error("communicator", "Unsupported communicator",
				`The docker builder reaches the container through the engine's exec API; "communicator" must be "docker" or "none".`))
		} else {
			diags = b.OneOf(diags, "communicator", c.Communicator, communicator.Docker, communicator.None)
		}
	}
	diags = c.EngineConfig.prepare(b, diags)
	diags = b.Required(diags, "image")
	if b.Known("image") && strings.TrimSpace(c.Image) == "" {
		diags = append(diags, b.Error("image", "Invalid value", `"image" must name an image, like "debian:bookworm".`))
	}
	if !b.Has("pull") {
		c.Pull = ptr(true)
	}
	diags = checkPlatform(b, diags, "platform", c.Platform)

	diags = exactlyOneOn(b, diags, map[string]bool{
		"commit": c.Commit, "export_path": c.ExportPath != "", "discard": c.Discard,
	}, "commit", "export_path", "discard")
	diags = checkChanges(b, diags, "changes", c.Changes)
	if b.Has("changes") && !b.IsUnknown("commit") && !c.Commit {
		diags = append(diags, b.Warning("changes", "Option ignored",
			`"changes" only apply when the container is committed (commit = true).`))
	}
	for _, n := range []string{"author", "message", "squash"} {
		if b.Has(n) && !b.IsUnknown("commit") && !c.Commit {
			diags = append(diags, b.Warningf(n, "Option ignored", "%q only applies when commit = true.", n))
		}
	}

	for host, ctr := range c.Volumes {
		if !path.IsAbs(ctr) {
			diags = append(diags, b.KeyErrorf("volumes", host, "Invalid volume",
				"The volume %q is mounted at %q, which is not an absolute path in the container.", host, ctr))
		}
		if host == "" {
			diags = append(diags, b.KeyErrorf("volumes", host, "Invalid volume", "A volume's host path must not be empty."))
		}
	}
	for i, t := range c.Tmpfs {
		if p, _, _ := strings.Cut(t, ":"); !path.IsAbs(p) {
			diags = append(diags, b.ElementErrorf("tmpfs", i, "Invalid tmpfs mount",
				"The tmpfs mount %q must start with an absolute path in the container.", t))
		}
	}
	for _, n := range []string{"device", "devices"} {
		list := c.Devices
		if n == "devices" {
			list = c.DevicesAlias
		}
		for i, d := range list {
			if parts := strings.Split(d, ":"); len(parts) > 3 || parts[0] == "" {
				diags = append(diags, b.ElementErrorf(n, i, "Invalid device",
					"The device %q must be written \"host[:container[:permissions]]\".", d))
			}
		}
	}
	c.Devices = append(c.Devices, c.DevicesAlias...)
	c.DevicesAlias = nil
	if b.Has("run_command") {
		diags = append(diags, b.Warning("run_command", "Option ignored",
			"bake creates the container through the Docker Engine API, not with `docker run`, so \"run_command\" is ignored. "+
				"Use \"privileged\", \"volumes\", \"cap_add\", \"cap_drop\", \"devices\", \"tmpfs\", \"runtime\" and \"platform\" instead."))
	}

	if !b.Has("container_dir") {
		c.ContainerDir = DefaultContainerDir
	} else if b.Known("container_dir") && !path.IsAbs(c.ContainerDir) {
		diags = append(diags, b.Errorf("container_dir", "Invalid value",
			`"container_dir" must be an absolute path in the container, not %q.`, c.ContainerDir))
	}
	if !b.Has("fix_upload_owner") {
		c.FixUploadOwner = ptr(true)
	}

	diags = prepareLogin(b, diags, c.Login, c.ECRLogin)
	return diags
}

// prepareLogin checks the registry login options shared by the builder
// and docker-push.
func prepareLogin(b *templates.Body, diags hcl.Diagnostics, login, ecr bool) hcl.Diagnostics {
	if b.Has("ecr_login") && ecr {
		diags = append(diags, b.Warning("ecr_login", "Option not supported",
			"bake does not log in to Amazon ECR (\"ecr_login\"); give registry credentials with \"login_username\" and \"login_password\" instead."))
	}
	for _, n := range []string{"aws_access_key", "aws_secret_key", "aws_token", "aws_profile"} {
		if b.Has(n) {
			diags = append(diags, b.Warningf(n, "Option not supported", "%q is only used for ECR login, which bake does not support.", n))
		}
	}
	if b.IsUnknown("login") {
		return diags
	}
	if login {
		if b.Has("login_username") != b.Has("login_password") {
			set, missing := "login_username", "login_password"
			if !b.Has("login_username") {
				set, missing = missing, set
			}
			diags = append(diags, b.Errorf(set, "Missing required option",
				`With login = true, "login_username" and "login_password" go together; %q is missing.`, missing))
		}
		return diags
	}
	for _, n := range []string{"login_server", "login_username", "login_password"} {
		if b.Has(n) {
			diags = append(diags, b.Warningf(n, "Option ignored", "%q has no effect without login = true.", n))
		}
	}
	return diags
}

// exactlyOneOn reports unless exactly one of names is on: a boolean that
// is true or a string that is set. A value that is unknown, or failed to
// decode, counts as possibly on.
func exactlyOneOn(b *templates.Body, diags hcl.Diagnostics, on map[string]bool, names ...string) hcl.Diagnostics {
	var set []string
	unknown := false
	for _, n := range names {
		if b.Has(n) && !b.Known(n) {
			unknown = true
		} else if b.Has(n) && on[n] {
			set = append(set, n)
		}
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = `"` + n + `"`
	}
	switch {
	case len(set) == 0 && !unknown:
		diags = append(diags, b.Errorf("", "Missing required option",
			"The %s block needs exactly one of %s, to say what the build produces.", b.Type, strings.Join(quoted, ", ")))
	case len(set) > 1:
		diags = append(diags, b.Errorf(set[1], "Conflicting options",
			"The %s block takes only one of %s, but %q and %q are both set.", b.Type, strings.Join(quoted, ", "), set[0], set[1]))
	}
	return diags
}

// changeInstructions are the Dockerfile instructions a commit (or import)
// may apply.
var changeInstructions = []string{"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "WORKDIR", "VOLUME", "ONBUILD"}

// checkChanges checks that each change begins with an instruction the
// engine applies at commit, pointing at the offending entry.
func checkChanges(b *templates.Body, diags hcl.Diagnostics, name string, changes []string) hcl.Diagnostics {
	if !b.Known(name) {
		return diags
	}
	for i, ch := range changes {
		fields := strings.Fields(ch)
		if len(fields) == 0 {
			diags = append(diags, b.ElementErrorf(name, i, "Invalid change", "Entry %d of %q is empty.", i+1, name))
			continue
		}
		instr := strings.ToUpper(fields[0])
		ok := false
		for _, a := range changeInstructions {
			if instr == a {
				ok = true
				break
			}
		}
		if !ok {
			detail := "The change %q does not begin with an instruction a commit can apply; it must be one of %s."
			args := []any{ch, strings.Join(changeInstructions, ", ")}
			if s := templates.Suggest(instr, changeInstructions); s != "" {
				detail += " Did you mean %q?"
				args = append(args, s)
			}
			diags = append(diags, b.ElementErrorf(name, i, "Invalid change", detail, args...))
			continue
		}
		if len(fields) == 1 {
			diags = append(diags, b.ElementErrorf(name, i, "Invalid change", "The change %q has no argument.", ch))
		}
	}
	return diags
}

var platformRE = regexp.MustCompile(`^[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_.]+)?$`)

func checkPlatform(b *templates.Body, diags hcl.Diagnostics, name, p string) hcl.Diagnostics {
	if b.Known(name) && !platformRE.MatchString(p) {
		diags = append(diags, b.Errorf(name, "Invalid value",
			"%q is not a platform; write \"os/arch\" or \"os/arch/variant\", like \"linux/amd64\" or \"linux/arm64/v8\".", p))
	}
	return diags
}

func ptr[T any](v T) *T { return &v }
