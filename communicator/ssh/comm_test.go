package ssh_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/internal/testutil/sshd"
	"github.com/bake-tool/bake/provisioners"
)

// rootConfig is a key login as root to srv.
func rootConfig(srv *sshd.Server) ssh.Config {
	return ssh.Config{
		Host:       srv.Host,
		Port:       srv.Port,
		User:       "root",
		PrivateKey: srv.PrivateKey,
		Timeout:    10 * time.Second,
	}
}

func connect(t *testing.T, cfg ssh.Config) *ssh.Comm {
	t.Helper()
	c, err := ssh.Connect(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// run runs command and returns its output and status, failing t on a
// transport error.
func run(t *testing.T, c *ssh.Comm, command string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errb bytes.Buffer
	status, err := c.Run(t.Context(), &provisioners.Cmd{Command: command, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("run %q: %v", command, err)
	}
	return out.String(), errb.String(), status
}

func TestAuth(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	tests := []struct {
		name string
		cfg  func(*ssh.Config)
		user string
	}{
		{"root key", func(*ssh.Config) {}, "root"},
		{"user password", func(c *ssh.Config) {
			c.User, c.PrivateKey, c.Password = sshd.TestUser, nil, sshd.TestPassword
		}, sshd.TestUser},
		{"user key", func(c *ssh.Config) { c.User = sshd.TestUser }, sshd.TestUser},
		{"user key and password", func(c *ssh.Config) {
			c.User, c.Password = sshd.TestUser, sshd.TestPassword
		}, sshd.TestUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rootConfig(srv)
			tt.cfg(&cfg)
			c := connect(t, cfg)
			out, _, status := run(t, c, "id -un")
			if status != 0 || strings.TrimSpace(out) != tt.user {
				t.Errorf("id -un = %q, status %d; want %q, 0", out, status, tt.user)
			}
		})
	}
}

func TestGenerateKeyPair(t *testing.T) {
	kp, err := ssh.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(kp.PrivateKey, []byte("-----BEGIN OPENSSH PRIVATE KEY-----")) {
		t.Errorf("private key is not in OpenSSH form:\n%s", kp.PrivateKey)
	}
	pub, comment, _, rest, err := gossh.ParseAuthorizedKey(kp.AuthorizedKey)
	if err != nil || len(rest) != 0 || pub.Type() != gossh.KeyAlgoED25519 || comment == "" {
		t.Fatalf("authorized key %q: type %v, comment %q, err %v", kp.AuthorizedKey, pub, comment, err)
	}
	other, _ := ssh.GenerateKeyPair()
	if bytes.Equal(other.PrivateKey, kp.PrivateKey) {
		t.Error("two calls returned the same key")
	}

	// The key logs in once authorized.
	srv := sshd.Start(t, sshd.Options{})
	srv.Authorize(t, kp.AuthorizedKey)
	cfg := rootConfig(srv)
	cfg.PrivateKey = kp.PrivateKey
	c := connect(t, cfg)
	if out, _, _ := run(t, c, "echo ok"); out != "ok\n" {
		t.Errorf("output %q", out)
	}
}

func TestRun(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	c := connect(t, rootConfig(srv))
	tests := []struct {
		name, command  string
		stdout, stderr string
		status         int
	}{
		{"success", "true", "", "", 0},
		{"exit code", "exit 3", "", "", 3},
		{"false", "false", "", "", 1},
		{"killed by signal", "kill -9 $$", "", "", 128 + 9},
		{"stderr apart from stdout", "echo out; echo err >&2; echo out2", "out\nout2\n", "err\n", 0},
		{"environment in the command", "FOO='a b' BAR=2; export FOO BAR; sh -c 'echo \"$FOO/$BAR\"'", "a b/2\n", "", 0},
		{"env prefix", "GREETING=hello sh -c 'echo $GREETING'", "hello\n", "", 0},
		{"status with output", "echo partial; exit 42", "partial\n", "", 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, status := run(t, c, tt.command)
			if out != tt.stdout || errOut != tt.stderr || status != tt.status {
				t.Errorf("got stdout %q, stderr %q, status %d; want %q, %q, %d",
					out, errOut, status, tt.stdout, tt.stderr, tt.status)
			}
		})
	}
}

func TestRunStdin(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	c := connect(t, rootConfig(srv))
	var out bytes.Buffer
	status, err := c.Run(t.Context(), &provisioners.Cmd{Command: "tr a-z A-Z", Stdin: strings.NewReader("hello\n"), Stdout: &out})
	if err != nil || status != 0 || out.String() != "HELLO\n" {
		t.Errorf("got %q, %d, %v", out.String(), status, err)
	}

	// A command that ignores a stdin that never ends still returns.
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(t.Context(), &provisioners.Cmd{Command: "true", Stdin: pr})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run waited for stdin the command never read")
	}
}

// TestRunStreams checks that output arrives while the command runs.
func TestRunStreams(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	c := connect(t, rootConfig(srv))
	first := make(chan time.Time, 1)
	w := &notifyWriter{on: "first", ch: first}
	start := time.Now()
	_, err := c.Run(t.Context(), &provisioners.Cmd{Command: "echo first; sleep 2; echo second", Stdout: w})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-first:
		if d := at.Sub(start); d > 1500*time.Millisecond {
			t.Errorf("first line arrived after %s, want it before the command ends", d)
		}
	default:
		t.Fatal("no output")
	}
}

type notifyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	on   string
	ch   chan time.Time
	sent bool
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent && strings.Contains(w.buf.String(), w.on) {
		w.sent = true
		w.ch <- time.Now()
	}
	return len(p), nil
}

func TestRunPTY(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	cfg := rootConfig(srv)
	cfg.PTY = true
	c := connect(t, cfg)
	out, _, status := run(t, c, "tty; exit 4")
	if !strings.HasPrefix(out, "/dev/pts/") || status != 4 {
		t.Errorf("tty printed %q, status %d; want a /dev/pts/ device and 4", out, status)
	}
}

// TestDisconnect kills the sshd process serving the session while a command
// runs: Run reports ErrDisconnected, and the next call reconnects.
func TestDisconnect(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	c := connect(t, rootConfig(srv))
	start := time.Now()
	var out bytes.Buffer
	// The shell's parent is the sshd process of this connection.
	_, err := c.Run(t.Context(), &provisioners.Cmd{Command: "echo started; kill -9 $PPID; sleep 30", Stdout: &out})
	if !errors.Is(err, provisioners.ErrDisconnected) {
		t.Fatalf("Run returned %v, want ErrDisconnected", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %s to notice", d)
	}
	t.Logf("error: %v (after %s)", err, time.Since(start))
	if out, _, status := run(t, c, "echo again"); out != "again\n" || status != 0 {
		t.Errorf("after reconnect: %q, %d", out, status)
	}
}

// TestKeepAlive freezes the network under a running command: no FIN, no
// RST, only silence. The keep-alives find the dead peer.
func TestKeepAlive(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	proxy := startProxy(t, srv.Addr())
	cfg := rootConfig(srv)
	cfg.Port = proxy.port
	cfg.KeepAliveInterval = 200 * time.Millisecond
	cfg.KeepAliveCountMax = 3
	c := connect(t, cfg)

	time.AfterFunc(time.Second, func() { proxy.frozen.Store(true) })
	start := time.Now()
	_, err := c.Run(t.Context(), &provisioners.Cmd{Command: "sleep 30"})
	if !errors.Is(err, provisioners.ErrDisconnected) || !strings.Contains(err.Error(), "keep-alive") {
		t.Fatalf("Run returned %v, want ErrDisconnected from the keep-alive", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("dead peer noticed after %s, want about 1.6s", d)
	}
	t.Logf("error: %v (after %s)", err, time.Since(start))
}

// proxy forwards TCP connections to a target until frozen, then holds
// everything without closing.
type proxy struct {
	port   int
	frozen atomic.Bool
}

func startProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{port: l.Addr().(*net.TCPAddr).Port}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			go func() { <-done; in.Close(); out.Close() }()
			go p.pipe(out, in, done)
			go p.pipe(in, out, done)
		}
	}()
	return p
}

func (p *proxy) pipe(dst, src net.Conn, done chan struct{}) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cfg := ssh.Config{Host: "127.0.0.1", Port: port, User: "root", Password: "x", Timeout: 1500 * time.Millisecond}
	start := time.Now()
	_, err = ssh.Connect(t.Context(), cfg, testLogger(t))
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	want := fmt.Sprintf("ssh: no connection to 127.0.0.1:%d after 1.5s: last error: dial tcp 127.0.0.1:%d: connect: connection refused", port, port)
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	if elapsed < 1400*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("gave up after %s, want about 1.5s", elapsed)
	}
}

// TestConnectWaitsForServer starts sshd while Connect is already retrying,
// as when a machine boots.
func TestConnectWaitsForServer(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	proxy := startGate(t, srv.Addr())
	cfg := rootConfig(srv)
	cfg.Port = proxy.port
	time.AfterFunc(time.Second, func() { proxy.open.Store(true) })
	c := connect(t, cfg)
	if out, _, _ := run(t, c, "echo up"); out != "up\n" {
		t.Errorf("output %q", out)
	}
}

// gate refuses connections (closes them at once) until open.
type gate struct {
	port int
	open atomic.Bool
}

func startGate(t *testing.T, target string) *gate {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{port: l.Addr().(*net.TCPAddr).Port}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			if !g.open.Load() {
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return g
}

func TestWrongPassword(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	cfg := ssh.Config{
		Host: srv.Host, Port: srv.Port,
		User: sshd.TestUser, Password: "wrong",
		Timeout:           time.Minute,
		HandshakeAttempts: 2,
	}
	start := time.Now()
	_, err := ssh.Connect(t.Context(), cfg, testLogger(t))
	if !errors.Is(err, ssh.ErrAuthFailed) {
		t.Fatalf("error %v, want ErrAuthFailed", err)
	}
	if want := "authentication failed for user " + sshd.TestUser; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s to give up", d)
	}
	t.Logf("error: %v (after %s)", err, time.Since(start))
}

func TestBastion(t *testing.T) {
	target := sshd.Start(t, sshd.Options{})
	bastion := sshd.StartBastion(t)
	cfg := rootConfig(target)
	cfg.Bastion = &ssh.BastionConfig{
		Host: bastion.Host, Port: bastion.Port,
		User: sshd.TestUser, Password: sshd.TestPassword,
	}
	c := connect(t, cfg)
	out, _, status := run(t, c, "echo through")
	if out != "through\n" || status != 0 {
		t.Errorf("got %q, %d", out, status)
	}
	want := fmt.Sprintf("target 127.0.0.1 port %d", target.Port)
	if !strings.Contains(bastion.Log(), want) {
		t.Errorf("bastion log does not show the forwarded connection (%q):\n%s", want, bastion.Log())
	}

	t.Run("forwarding refused", func(t *testing.T) {
		noFwd := sshd.Start(t, sshd.Options{})
		cfg := rootConfig(target)
		cfg.Bastion = &ssh.BastionConfig{Host: noFwd.Host, Port: noFwd.Port, User: "root", PrivateKey: noFwd.PrivateKey}
		start := time.Now()
		_, err := ssh.Connect(t.Context(), cfg, testLogger(t))
		if err == nil || !strings.Contains(err.Error(), "prohibited") {
			t.Fatalf("error %v, want the bastion's refusal", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("retried a refusal for %s", d)
		}
	})
}

// TestContextCancel cancels a long command and checks that its processes
// are gone. sshd honours the signal request only for users it runs with
// privilege separation, so root takes the other path.
func TestContextCancel(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	for _, user := range []string{"root", sshd.TestUser} {
		t.Run(user, func(t *testing.T) {
			cfg := rootConfig(srv)
			cfg.User = user
			c := connect(t, cfg)
			pidFile := filepath.Join(sshd.UserDir(t, user), "pid")
			marker := fmt.Sprintf("%d%d", os.Getpid(), time.Now().UnixNano()%1e6)

			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				for range 400 {
					if b, _ := os.ReadFile(pidFile); len(b) > 0 {
						break
					}
					time.Sleep(25 * time.Millisecond)
				}
				cancel()
			}()
			start := time.Now()
			command := fmt.Sprintf("echo $$ > %s; sleep 6%s; echo done", pidFile, marker)
			_, err := c.Run(ctx, &provisioners.Cmd{Command: command})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run returned %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Run returned %s after cancel", d)
			}
			b, _ := os.ReadFile(pidFile)
			pid := strings.TrimSpace(string(b))
			// The machine is this one: the command's processes must go.
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, errShell := os.Stat("/proc/" + pid)
				sleeping := exec.Command("pgrep", "-f", "sleep 6"+marker).Run() == nil
				if errShell != nil && !sleeping {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("command still running after cancel (shell alive: %v, sleep alive: %v)", errShell == nil, sleeping)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// The connection is still usable.
			if out, _, _ := run(t, c, "echo next"); out != "next\n" {
				t.Errorf("output %q", out)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  ssh.Config
		want string
	}{
		{"no host", ssh.Config{User: "u", Password: "p"}, "ssh: no host"},
		{"no user", ssh.Config{Host: "h", Password: "p"}, "ssh: no user"},
		{"no credentials", ssh.Config{Host: "h", User: "u"}, "ssh: no password or private key for user u"},
		{"bad transfer", ssh.Config{Host: "h", User: "u", Password: "p", FileTransfer: "rsync"}, `ssh: file transfer method "rsync": want "sftp" or "scp"`},
		{"bad key", ssh.Config{Host: "h", User: "u", PrivateKey: []byte("nope")}, "ssh: parse private key for user u: ssh: no key found"},
		{"bastion without user", ssh.Config{Host: "h", User: "u", Password: "p", Bastion: &ssh.BastionConfig{Host: "b", Password: "p"}}, "ssh: bastion: no user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ssh.Connect(t.Context(), tt.cfg, nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %s", err, tt.want)
			}
		})
	}
}

func TestClose(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	c := connect(t, rootConfig(srv))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Run(t.Context(), &provisioners.Cmd{Command: "true"}); err == nil {
		t.Error("Run after Close succeeded")
	}
}

// TestPortForwardBeforeServer: a port forward that accepts and closes before
// the guest's sshd is up (qemu's user networking does this while the guest
// boots) is "not reachable yet", retried until Timeout, and does not use up
// HandshakeAttempts.
func TestPortForwardBeforeServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted++
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	cfg := ssh.Config{Host: "127.0.0.1", Port: port, User: "root", Password: "x", Timeout: 2 * time.Second, HandshakeAttempts: 2}
	start := time.Now()
	_, err = ssh.Connect(t.Context(), cfg, testLogger(t))
	if err == nil {
		t.Fatal("connected to a port that closes at once")
	}
	if el := time.Since(start); el < 1800*time.Millisecond {
		t.Errorf("gave up after %s (%d connections), before the 2s timeout: %v", el, accepted, err)
	}
	if !strings.Contains(err.Error(), "no SSH server answered") || errors.Is(err, ssh.ErrAuthFailed) {
		t.Errorf("error %v", err)
	}
}

// TestDial: Config.Dial opens the connection in place of a plain dial, for
// the first connection and for a reconnect after the server closed it,
// and its error is retried like a refused connection.
func TestDial(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	cfg := rootConfig(srv)
	cfg.Port = 1 // never dialled: Dial goes to srv
	var calls atomic.Int32
	cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
		if n := calls.Add(1); n == 1 {
			return nil, errors.New("not yet")
		}
		if addr != "127.0.0.1:1" {
			t.Errorf("Dial got address %q", addr)
		}
		return new(net.Dialer).DialContext(ctx, "tcp", srv.Addr())
	}
	c := connect(t, cfg)
	if out, _, _ := run(t, c, "echo up"); out != "up\n" {
		t.Errorf("output %q", out)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("Dial called %d times, want 2 (a failure, then the connection)", n)
	}
	// The shell's parent is the sshd process of this connection.
	if _, err := c.Run(t.Context(), &provisioners.Cmd{Command: "kill -9 $PPID; sleep 30"}); !errors.Is(err, provisioners.ErrDisconnected) {
		t.Fatalf("Run returned %v, want ErrDisconnected", err)
	}
	if out, _, _ := run(t, c, "echo again"); out != "again\n" {
		t.Errorf("output after reconnect %q", out)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("Dial called %d times after a reconnect, want 3", n)
	}
}
