package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Defaults applied by Connect to zero fields of a Config.
const (
	DefaultPort              = 22
	DefaultTimeout           = 5 * time.Minute
	DefaultHandshakeAttempts = 10
	DefaultKeepAliveInterval = 5 * time.Second
	DefaultKeepAliveCountMax = 3
)

// File transfer methods for Config.FileTransfer.
const (
	TransferSFTP = "sftp"
	TransferSCP  = "scp"
)

// Config says how to reach and log in to a machine.
type Config struct {
	// Host and Port locate the machine's SSH server. Port 0 means 22.
	Host string
	Port int
	// User logs in with Password, PrivateKey (a PEM block: OpenSSH, PKCS#1,
	// PKCS#8 or EC, unencrypted), or both; at least one is required.
	User       string
	Password   string
	PrivateKey []byte
	// Timeout bounds how long Connect keeps trying while the machine is
	// not yet reachable. 0 means DefaultTimeout.
	Timeout time.Duration
	// HandshakeAttempts is how many SSH handshakes may fail (the server
	// answered but refused the login or broke off) before Connect gives up
	// without waiting for Timeout. 0 means DefaultHandshakeAttempts.
	HandshakeAttempts int
	// KeepAliveInterval is how often a keepalive@openssh.com request is
	// sent; after KeepAliveCountMax intervals without a reply the
	// connection is declared lost. 0 means the defaults; a negative
	// interval turns keep-alives off.
	KeepAliveInterval time.Duration
	KeepAliveCountMax int
	// FileTransfer is TransferSFTP (the default when empty) or TransferSCP.
	FileTransfer string
	// Bastion, when set, is a host the connection hops through with a
	// direct-tcpip channel (ssh -J).
	Bastion *BastionConfig
	// PTY requests a pseudo-terminal for each command; its stderr is then
	// merged into stdout by the remote side.
	PTY bool
	// HostKeyCallback checks the server's host key. nil accepts any key,
	// which suits machines the build itself just created.
	HostKeyCallback gossh.HostKeyCallback
	// Dial, when set, opens the TCP connection to addr (Host:Port) in
	// place of a plain dial; with a Bastion it is not used. A builder that
	// has already connected to the server, to see its banner, can hand
	// that connection over this way instead of making the server accept
	// another.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// BastionConfig is the jump host of Config.Bastion.
type BastionConfig struct {
	Host       string
	Port       int // 0 means 22
	User       string
	Password   string
	PrivateKey []byte
	// HostKeyCallback is as in Config.
	HostKeyCallback gossh.HostKeyCallback
}

// Addr returns the machine's "host:port".
func (c *Config) Addr() string { return joinHostPort(c.Host, c.Port) }

// withDefaults returns a copy of c with zero fields defaulted, or an error
// when c cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.Host == "" {
		return c, errors.New("ssh: no host")
	}
	if c.User == "" {
		return c, errors.New("ssh: no user")
	}
	if c.Password == "" && len(c.PrivateKey) == 0 {
		return c, fmt.Errorf("ssh: no password or private key for user %s", c.User)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HandshakeAttempts <= 0 {
		c.HandshakeAttempts = DefaultHandshakeAttempts
	}
	if c.KeepAliveInterval == 0 {
		c.KeepAliveInterval = DefaultKeepAliveInterval
	}
	if c.KeepAliveCountMax <= 0 {
		c.KeepAliveCountMax = DefaultKeepAliveCountMax
	}
	switch c.FileTransfer {
	case "":
		c.FileTransfer = TransferSFTP
	case TransferSFTP, TransferSCP:
	default:
		return c, fmt.Errorf("ssh: file transfer method %q: want %q or %q", c.FileTransfer, TransferSFTP, TransferSCP)
	}
	if b := c.Bastion; b != nil {
		if b.Host == "" {
			return c, errors.New("ssh: bastion: no host")
		}
		if b.User == "" {
			return c, errors.New("ssh: bastion: no user")
		}
		if b.Password == "" && len(b.PrivateKey) == 0 {
			return c, fmt.Errorf("ssh: bastion: no password or private key for user %s", b.User)
		}
		bc := *b
		if bc.Port == 0 {
			bc.Port = DefaultPort
		}
		c.Bastion = &bc
	}
	return c, nil
}

// clientConfig builds the x/crypto client configuration for one login.
func clientConfig(user, password string, key []byte, hostKey gossh.HostKeyCallback) (*gossh.ClientConfig, error) {
	var auth []gossh.AuthMethod
	if len(key) > 0 {
		signer, err := gossh.ParsePrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("ssh: parse private key for user %s: %w", user, err)
		}
		auth = append(auth, gossh.PublicKeys(signer))
	}
	if password != "" {
		auth = append(auth,
			gossh.Password(password),
			gossh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}
	if hostKey == nil {
		hostKey = gossh.InsecureIgnoreHostKey()
	}
	return &gossh.ClientConfig{User: user, Auth: auth, HostKeyCallback: hostKey}, nil
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
