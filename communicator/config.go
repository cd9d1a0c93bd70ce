package communicator

import (
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// Communicator types.
const (
	SSH    = "ssh"
	None   = "none"
	Docker = "docker"
)

// File transfer methods of the SSH communicator.
const (
	SFTP = "sftp"
	SCP  = "scp"
)

// Defaults filled in by Prepare.
const (
	DefaultSSHPort           = 22
	DefaultSSHTimeout        = 5 * time.Minute
	DefaultHandshakeAttempts = 10
	DefaultKeepAliveInterval = 5 * time.Second
)

// Config is the communicator options a source block embeds: which
// communicator reaches the machine and how the SSH one connects. The
// option names are Packer's.
type Config struct {
	// Type is "ssh" (the default) or "none".
	Type string `hcl:"communicator"`
	// PauseBeforeConnecting waits this long after the machine is up before
	// the first connection attempt.
	PauseBeforeConnecting time.Duration `hcl:"pause_before_connecting"`

	SSHConfig
}

// SSHConfig is the options of the SSH communicator.
type SSHConfig struct {
	// Host is the address to connect to; builders that know the machine's
	// address fill it in when it is empty.
	Host string `hcl:"ssh_host"`
	// Port defaults to 22.
	Port     int    `hcl:"ssh_port"`
	Username string `hcl:"ssh_username"`
	Password string `hcl:"ssh_password"`
	// PrivateKeyFile is the key to authenticate with, "~/" expanded. When
	// neither it nor Password nor AgentAuth is set, the builder makes a
	// temporary ed25519 key.
	PrivateKeyFile string `hcl:"ssh_private_key_file"`
	// KeyPairName names an existing cloud key pair (amazon-ebs) whose
	// private half is PrivateKeyFile or in the agent.
	KeyPairName string `hcl:"ssh_keypair_name"`
	// TemporaryKeyPairName names the temporary cloud key pair.
	TemporaryKeyPairName string `hcl:"temporary_key_pair_name"`
	AgentAuth            bool   `hcl:"ssh_agent_auth"`
	// Timeout bounds the wait for SSH to become available; default 5m.
	Timeout time.Duration `hcl:"ssh_timeout"`
	// WaitTimeout is Packer's older name for Timeout; Prepare folds it in.
	WaitTimeout time.Duration `hcl:"ssh_wait_timeout"`
	// HandshakeAttempts is how many SSH handshakes may fail before the
	// build fails; default 10.
	HandshakeAttempts int `hcl:"ssh_handshake_attempts"`
	// KeepAliveInterval is the time between keep-alive requests; default
	// 5s, 0 turns them off.
	KeepAliveInterval time.Duration `hcl:"ssh_keep_alive_interval"`
	// ReadWriteTimeout bounds each read or write on the connection; 0 means
	// none.
	ReadWriteTimeout time.Duration `hcl:"ssh_read_write_timeout"`

	BastionHost           string `hcl:"ssh_bastion_host"`
	BastionPort           int    `hcl:"ssh_bastion_port"`
	BastionUsername       string `hcl:"ssh_bastion_username"`
	BastionPassword       string `hcl:"ssh_bastion_password"`
	BastionPrivateKeyFile string `hcl:"ssh_bastion_private_key_file"`
	BastionAgentAuth      bool   `hcl:"ssh_bastion_agent_auth"`

	// FileTransferMethod is "sftp" (the default) or "scp".
	FileTransferMethod     string `hcl:"ssh_file_transfer_method"`
	Pty                    bool   `hcl:"ssh_pty"`
	DisableAgentForwarding bool   `hcl:"ssh_disable_agent_forwarding"`
}

// sshOptions lists the attributes that only matter to the SSH
// communicator, to warn when they are set with another one.
var sshOptions = []string{
	"ssh_host", "ssh_port", "ssh_username", "ssh_password", "ssh_private_key_file",
	"ssh_keypair_name", "temporary_key_pair_name", "ssh_agent_auth", "ssh_timeout", "ssh_wait_timeout",
	"ssh_handshake_attempts", "ssh_keep_alive_interval", "ssh_read_write_timeout",
	"ssh_bastion_host", "ssh_bastion_port", "ssh_bastion_username", "ssh_bastion_password",
	"ssh_bastion_private_key_file", "ssh_bastion_agent_auth", "ssh_file_transfer_method",
	"ssh_pty", "ssh_disable_agent_forwarding",
}

// Prepare validates the communicator options of the block b and fills in
// defaults. Builders call it from their own Prepare; requirements that
// depend on the builder (ssh_username, ssh_host) are theirs to add when
// c.Type is SSH.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	return c.PrepareTypes(b, SSH, SSH, None)
}

// PrepareTypes is Prepare for a builder whose default communicator is def
// and which supports only the types allowed.
func (c *Config) PrepareTypes(b *templates.Body, def string, allowed ...string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !b.Has("communicator") {
		c.Type = def
	}
	if b.Known("communicator") {
		c.Type = strings.ToLower(c.Type)
		if c.Type == "winrm" {
			diags = append(diags, b.Errorf("communicator", "Unsupported communicator",
				"bake has no WinRM communicator; the %s block supports %s.", b.Type, strings.Join(quote(allowed), ", ")))
		} else {
			diags = b.OneOf(diags, "communicator", c.Type, allowed...)
		}
	}
	if c.Type != SSH {
		if b.IsUnknown("communicator") {
			return diags
		}
		for _, n := range sshOptions {
			if b.Has(n) {
				diags = append(diags, b.Warningf(n, "Option ignored",
					"%q only applies to the SSH communicator, and this block uses communicator = %q.", n, c.Type))
			}
		}
		return diags
	}
	return append(diags, c.SSHConfig.prepare(b)...)
}

func (s *SSHConfig) prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = port(b, diags, "ssh_port", &s.Port)
	diags = port(b, diags, "ssh_bastion_port", &s.BastionPort)

	// As in Packer, a non-zero ssh_wait_timeout wins over ssh_timeout:
	// templates written for old and new Packer set both.
	if b.Has("ssh_wait_timeout") {
		if b.Has("ssh_timeout") {
			diags = append(diags, b.Warning("ssh_wait_timeout", "Two SSH timeouts",
				`"ssh_wait_timeout" (the old name of "ssh_timeout") is set too, and wins over "ssh_timeout" as in Packer.`))
		} else {
			diags = append(diags, b.Warning("ssh_wait_timeout", "Deprecated option",
				`"ssh_wait_timeout" is the old name of "ssh_timeout"; use "ssh_timeout".`))
		}
		if s.WaitTimeout != 0 || !b.Has("ssh_timeout") {
			s.Timeout = s.WaitTimeout
		}
	} else if !b.Has("ssh_timeout") {
		s.Timeout = DefaultSSHTimeout
	}
	if b.Known("ssh_timeout") && s.Timeout == 0 {
		diags = append(diags, b.Error("ssh_timeout", "Invalid value",
			`"ssh_timeout" must be more than zero: it bounds the wait for SSH to become available.`))
	}
	if !b.Has("ssh_handshake_attempts") {
		s.HandshakeAttempts = DefaultHandshakeAttempts
	} else if b.Known("ssh_handshake_attempts") && s.HandshakeAttempts < 1 {
		diags = append(diags, b.Errorf("ssh_handshake_attempts", "Invalid value",
			`"ssh_handshake_attempts" must be at least 1, not %d.`, s.HandshakeAttempts))
	}
	if !b.Has("ssh_keep_alive_interval") {
		s.KeepAliveInterval = DefaultKeepAliveInterval
	}
	if !b.Has("ssh_file_transfer_method") {
		s.FileTransferMethod = SFTP
	} else if b.Known("ssh_file_transfer_method") {
		s.FileTransferMethod = strings.ToLower(s.FileTransferMethod)
		diags = b.OneOf(diags, "ssh_file_transfer_method", s.FileTransferMethod, SFTP, SCP)
	}

	diags = keyFile(b, diags, "ssh_private_key_file", &s.PrivateKeyFile)
	diags = keyFile(b, diags, "ssh_bastion_private_key_file", &s.BastionPrivateKeyFile)

	if b.Known("ssh_keypair_name") && s.KeyPairName != "" && !s.AgentAuth && !b.Has("ssh_private_key_file") {
		diags = append(diags, b.Error("ssh_keypair_name", "Missing private key",
			`"ssh_keypair_name" names an existing key pair, so bake needs its private half: set "ssh_private_key_file" or "ssh_agent_auth = true".`))
	}
	if b.Has("ssh_keypair_name") && b.Has("temporary_key_pair_name") {
		diags = b.AtMostOne(diags, "ssh_keypair_name", "temporary_key_pair_name")
	}

	if b.Has("ssh_bastion_host") {
		if !b.Has("ssh_bastion_port") {
			s.BastionPort = DefaultSSHPort
		}
		if !s.BastionAgentAuth && !b.Has("ssh_bastion_password") && !b.Has("ssh_bastion_private_key_file") {
			diags = append(diags, b.Error("ssh_bastion_host", "Missing bastion credentials",
				`A bastion host needs "ssh_bastion_password", "ssh_bastion_private_key_file" or "ssh_bastion_agent_auth = true".`))
		}
		if !b.Has("ssh_bastion_username") {
			diags = b.Required(diags, "ssh_bastion_username")
		}
	} else {
		for _, n := range []string{"ssh_bastion_port", "ssh_bastion_username", "ssh_bastion_password", "ssh_bastion_private_key_file", "ssh_bastion_agent_auth"} {
			if b.Has(n) {
				diags = append(diags, b.Warningf(n, "Option ignored",
					`%q has no effect without "ssh_bastion_host".`, n))
			}
		}
	}
	return diags
}

// port checks a TCP port attribute and defaults it to 22.
func port(b *templates.Body, diags hcl.Diagnostics, name string, p *int) hcl.Diagnostics {
	if !b.Has(name) {
		*p = DefaultSSHPort
		return diags
	}
	if b.Known(name) && (*p < 1 || *p > 65535) {
		diags = append(diags, b.Errorf(name, "Invalid value", "%q must be a TCP port from 1 to 65535, not %d.", name, *p))
	}
	return diags
}

// keyFile expands "~/" in a private key path and checks that it can be
// read. A path not known yet is a warning: it cannot be checked before the
// build runs.
func keyFile(b *templates.Body, diags hcl.Diagnostics, name string, path *string) hcl.Diagnostics {
	if b.IsUnknown(name) {
		return append(diags, b.Warningf(name, "Cannot check key file yet",
			"The value of %q is only known when the build runs, so bake cannot check now that the file exists.", name))
	}
	if !b.Has(name) {
		return diags
	}
	*path = templates.ExpandHome(*path)
	if err := templates.CheckReadable(*path, false); err != nil {
		diags = append(diags, b.Errorf(name, "Unreadable private key file", "%q: %s.", name, err))
	}
	return diags
}

func quote(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = `"` + v + `"`
	}
	return q
}
