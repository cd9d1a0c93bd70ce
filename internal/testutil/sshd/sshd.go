package sshd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// TestUser is the account created for password logins; TestPassword is its
// password. The account is created once per machine and reused.
const (
	TestUser     = "baketest"
	TestPassword = "bake-test-password-7f3a"
)

// Options change how Start configures sshd.
type Options struct {
	// AllowTCPForwarding lets clients open direct-tcpip channels, which a
	// bastion needs. Off by default.
	AllowTCPForwarding bool
	// Config holds extra sshd_config lines, appended as given.
	Config []string
}

// Server is a running sshd.
type Server struct {
	// Host and Port are where sshd listens.
	Host string
	Port int
	// PrivateKey is an ed25519 key in OpenSSH PEM form authorized for root
	// and TestUser; AuthorizedKey is its authorized_keys line.
	PrivateKey    []byte
	AuthorizedKey []byte
	// HostKey is the server's public host key.
	HostKey gossh.PublicKey
	// Dir holds the server's configuration, keys and log.
	Dir string

	t       testing.TB
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	stopped sync.Once
}

// Addr returns "host:port".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Log returns what sshd has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// Authorize adds an authorized_keys line (for root and TestUser alike).
func (s *Server) Authorize(t testing.TB, authorizedKey []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(s.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(authorizedKey); err != nil {
		t.Fatal(err)
	}
}

// PID returns the process id of the listening sshd.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop stops sshd and waits for it to exit. Connections it accepted keep
// their own processes; Stop kills those too. Stop is idempotent and also
// runs when the test ends.
func (s *Server) Stop() {
	s.stopped.Do(func() {
		// sshd's per-connection children stay in its process group.
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.t.Errorf("sshd %d did not exit", s.cmd.Process.Pid)
		}
	})
}

// Start starts an sshd on a free loopback port and stops it when t ends. It
// fails t when sshd is not installed (scripts/setup.sh installs it) or on
// any other problem.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := sshdPath(t)
	if os.Geteuid() != 0 {
		t.Fatal("sshd tests need root to run sshd and create the test user (run them through scripts/test.sh)")
	}
	if err := ensureTestUser(); err != nil {
		t.Fatalf("create test user: %v", err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("create sshd privilege separation directory: %v", err)
	}

	// The directory must be readable by TestUser: sshd reads the
	// authorized keys file as the user logging in.
	dir, err := os.MkdirTemp("", "bake-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	s := &Server{Host: "127.0.0.1", Dir: dir, t: t, logPath: filepath.Join(dir, "sshd.log")}
	hostKeyPath := filepath.Join(dir, "host_ed25519")
	hostPub, err := writeKey(hostKeyPath, "bake-test-host")
	if err != nil {
		t.Fatal(err)
	}
	s.HostKey = hostPub
	userKeyPath := filepath.Join(dir, "id_ed25519")
	userPub, err := writeKey(userKeyPath, "bake-test-user")
	if err != nil {
		t.Fatal(err)
	}
	if s.PrivateKey, err = os.ReadFile(userKeyPath); err != nil {
		t.Fatal(err)
	}
	s.AuthorizedKey = gossh.MarshalAuthorizedKey(userPub)
	authPath := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authPath, s.AuthorizedKey, 0o644); err != nil {
		t.Fatal(err)
	}

	forwarding := "no"
	if opts.AllowTCPForwarding {
		forwarding = "yes"
	}
	lines := []string{
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKeyPath,
		"PidFile none",
		"AuthorizedKeysFile " + authPath,
		"PubkeyAuthentication yes",
		"PasswordAuthentication yes",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin yes",
		"StrictModes no",
		"UsePAM no",
		"UseDNS no",
		"MaxStartups 100",
		"MaxSessions 50",
		"LogLevel DEBUG1",
		"Subsystem sftp internal-sftp",
		"AllowTcpForwarding " + forwarding,
	}
	lines = append(lines, opts.Config...)
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := writeConfig(bin, cfgPath, lines); err != nil {
		t.Fatal(err)
	}

	// A port picked by listening on :0 may be taken again before sshd binds
	// it, so a failed start is retried on another port.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s.Port = port
		if lastErr = s.start(bin, cfgPath); lastErr == nil {
			t.Cleanup(func() {
				s.Stop()
				if t.Failed() {
					t.Logf("sshd log for %s:\n%s", s.Addr(), s.Log())
				}
			})
			return s
		}
	}
	t.Fatalf("start sshd: %v", lastErr)
	return nil
}

// StartBastion starts an sshd that allows TCP forwarding, for use as a
// bastion host.
func StartBastion(t testing.TB) *Server {
	t.Helper()
	return Start(t, Options{AllowTCPForwarding: true})
}

// UserDir returns a new temporary directory owned by user (root or
// TestUser), removed when the test ends: a place the remote side can write.
func UserDir(t testing.TB, user string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bake-sshd-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if user != "root" {
		out, err := exec.Command("chown", user+":", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("chown %s: %v: %s", dir, err, out)
		}
	}
	return dir
}

func (s *Server) start(bin, cfgPath string) error {
	if err := os.WriteFile(s.logPath, nil, 0o644); err != nil {
		return err
	}
	// -E rather than -e: with -e a session's debug lines, logged before
	// the command starts, would reach the client as the command's stderr.
	cmd := exec.Command(bin, "-D", "-E", s.logPath, "-f", cfgPath, "-p", strconv.Itoa(s.Port))
	// Its own process group, so Stop also reaches the per-connection
	// children; and it dies with the test binary, which a timeout or a
	// kill ends without Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited on port %d: %s", s.Port, s.Log())
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("sshd not ready on port %d: %s", s.Port, s.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if banner(ctx, s.Addr()) {
			return nil
		}
	}
}

// banner reports whether an SSH server answers on addr.
func banner(ctx context.Context, addr string) bool {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	_, err = c.Read(buf)
	return err == nil && string(buf) == "SSH-"
}

func sshdPath(t testing.TB) string {
	p, err := exec.LookPath("sshd")
	if err != nil {
		for _, c := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
			if _, err := os.Stat(c); err == nil {
				return c
			}
		}
		t.Fatal("sshd not installed: run scripts/setup.sh (" + err.Error() + ")")
	}
	// sshd refuses to re-execute itself unless started by absolute path.
	if !filepath.IsAbs(p) {
		if p, err = filepath.Abs(p); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// writeConfig writes the configuration and checks it with "sshd -t".
// PerSourcePenalties (OpenSSH 9.8 and later) would refuse a test's
// deliberate authentication failures for a while, so it is turned off where
// the option exists.
func writeConfig(bin, path string, lines []string) error {
	try := func(lines []string) ([]byte, error) {
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		return exec.Command(bin, "-t", "-f", path).CombinedOutput()
	}
	out, err := try(append(lines, "PerSourcePenalties no"))
	if err != nil && bytes.Contains(out, []byte("PerSourcePenalties")) {
		out, err = try(lines)
	}
	if err != nil {
		return fmt.Errorf("check sshd config: %v: %s", err, out)
	}
	return nil
}

// writeKey writes a new ed25519 private key in OpenSSH form to path and
// returns its public key.
func writeKey(path, comment string) (gossh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return gossh.NewPublicKey(pub)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var userMu sync.Mutex

// ensureTestUser creates TestUser with TestPassword unless it exists.
// Packages' tests run in parallel processes, so a lost race with another
// useradd (user exists, or /etc/passwd locked) is retried, then checked.
func ensureTestUser() error {
	userMu.Lock()
	defer userMu.Unlock()
	var lastErr error
	for range 20 {
		if exec.Command("id", TestUser).Run() == nil {
			return setPassword()
		}
		out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/sh", TestUser).CombinedOutput()
		if err == nil {
			return setPassword()
		}
		lastErr = fmt.Errorf("useradd %s: %v: %s", TestUser, err, out)
		time.Sleep(100 * time.Millisecond)
	}
	return lastErr
}

// setPassword sets TestPassword, again in case the account was made by hand
// with another; chpasswd is idempotent.
func setPassword() error {
	var lastErr error
	for range 20 {
		cmd := exec.Command("chpasswd")
		cmd.Stdin = strings.NewReader(TestUser + ":" + TestPassword + "\n")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		lastErr = fmt.Errorf("chpasswd: %v: %s", err, out)
		time.Sleep(100 * time.Millisecond)
	}
	return lastErr
}
