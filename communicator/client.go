package communicator

import (
	"errors"
	"fmt"
	"os"

	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/templates"
)

// Client translates the template's ssh_* options into the SSH
// communicator's settings, for a machine at host:port (a builder passes the
// address it found; "" and 0 keep ssh_host and ssh_port). tempKey is the
// private key of the build's temporary key pair, used when the template
// names no ssh_private_key_file. It fails when no credential is left,
// because ssh_agent_auth is not supported yet.
func (c *SSHConfig) Client(host string, port int, tempKey []byte) (ssh.Config, error) {
	if host == "" {
		host = c.Host
	}
	if port == 0 {
		port = c.Port
	}
	cfg := ssh.Config{
		Host:              host,
		Port:              port,
		User:              c.Username,
		Password:          c.Password,
		PrivateKey:        tempKey,
		Timeout:           c.Timeout,
		HandshakeAttempts: c.HandshakeAttempts,
		KeepAliveInterval: c.KeepAliveInterval,
		FileTransfer:      c.FileTransferMethod,
		PTY:               c.Pty,
	}
	// In the template 0 turns keep-alives off; in ssh.Config 0 means the
	// default and a negative interval turns them off.
	if cfg.KeepAliveInterval == 0 {
		cfg.KeepAliveInterval = -1
	}
	if c.PrivateKeyFile != "" {
		key, err := os.ReadFile(templates.ExpandHome(c.PrivateKeyFile))
		if err != nil {
			return cfg, fmt.Errorf("read ssh_private_key_file: %w", err)
		}
		cfg.PrivateKey = key
	}
	if c.BastionHost != "" {
		bc := &ssh.BastionConfig{Host: c.BastionHost, Port: c.BastionPort, User: c.BastionUsername, Password: c.BastionPassword}
		if c.BastionPrivateKeyFile != "" {
			key, err := os.ReadFile(templates.ExpandHome(c.BastionPrivateKeyFile))
			if err != nil {
				return cfg, fmt.Errorf("read ssh_bastion_private_key_file: %w", err)
			}
			bc.PrivateKey = key
		}
		cfg.Bastion = bc
	}
	if len(cfg.PrivateKey) == 0 && cfg.Password == "" {
		if c.AgentAuth {
			return cfg, fmt.Errorf(`ssh_agent_auth is not supported yet: set "ssh_private_key_file" or "ssh_password" for %s`, c.Username)
		}
		return cfg, errors.New(`no SSH credentials: set "ssh_private_key_file" or "ssh_password"`)
	}
	return cfg, nil
}
