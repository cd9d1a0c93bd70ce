package sshproxy

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/bake-tool/bake/provisioners"
)

// hostComm is a Communicator onto this host: commands run with /bin/sh,
// files are this host's files. It stands in for a machine so that the
// proxy is tested against real processes and real files.
type hostComm struct{}

func (hostComm) Run(ctx context.Context, c *provisioners.Cmd) (int, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Command)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return exit.ExitCode(), nil
	}
	return 0, err
}

func (hostComm) Upload(_ context.Context, dst string, src io.Reader, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	b, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

func (hostComm) UploadDir(context.Context, string, string) error { return errors.ErrUnsupported }

func (hostComm) Download(_ context.Context, src string, dst io.Writer) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(dst, f)
	return err
}

func (hostComm) DownloadDir(context.Context, string, string) error { return errors.ErrUnsupported }
func (hostComm) Close() error                                      { return nil }

// start serves hostComm and returns the server and a client signer the
// server accepts.
func start(t *testing.T) (*Server, gossh.Signer) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	testKeys[string(signer.PublicKey().Marshal())] = priv
	srv, err := Start(context.Background(), hostComm{}, signer.PublicKey(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, signer
}

func dial(t *testing.T, srv *Server, signer gossh.Signer) (*gossh.Client, error) {
	t.Helper()
	return gossh.Dial("tcp", srv.Addr(), &gossh.ClientConfig{
		User:            "anyone",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
}

// TestExec: a command's output, stdin and exit status pass through.
func TestExec(t *testing.T) {
	srv, signer := start(t)
	c, err := dial(t, srv, signer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _ := c.NewSession()
	s.Stdin = strings.NewReader("from stdin\n")
	out, err := s.Output("cat; echo out; echo err >&2")
	if err != nil || string(out) != "from stdin\nout\n" {
		t.Fatalf("output %q, err %v", out, err)
	}
	s, _ = c.NewSession()
	err = s.Run("exit 3")
	var exit *gossh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 3 {
		t.Fatalf("exit 3: %v", err)
	}
}

// TestOnlyTheKey: another key is refused.
func TestOnlyTheKey(t *testing.T) {
	srv, _ := start(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := gossh.NewSignerFromKey(priv)
	if c, err := dial(t, srv, other); err == nil {
		c.Close()
		t.Fatal("a key other than the run's was accepted")
	}
}

// TestSFTP: put, stat, get, rename, chmod, list and remove through the
// sftp subsystem land on the machine.
func TestSFTP(t *testing.T) {
	srv, signer := start(t)
	c, err := dial(t, srv, signer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	f, err := sc.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hello "))
	f.Write([]byte("world"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "hello world" {
		t.Fatalf("uploaded %q", b)
	}
	if err := sc.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := sc.Stat(p)
	if err != nil || fi.Size() != 11 || fi.Mode().Perm() != 0o600 || fi.IsDir() {
		t.Fatalf("stat: %v %v", fi, err)
	}
	if _, err := sc.Stat(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat of a missing file: %v", err)
	}
	q := filepath.Join(dir, "b.txt")
	if err := sc.Rename(p, q); err != nil {
		t.Fatal(err)
	}
	r, err := sc.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "hello world" {
		t.Fatalf("downloaded %q", b)
	}
	if err := sc.Mkdir(filepath.Join(dir, "d")); err != nil {
		t.Fatal(err)
	}
	list, err := sc.ReadDir(dir)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := sc.Remove(q); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(q); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed file is there: %v", err)
	}
}

// TestSCP: OpenSSH's scp, in both its protocols (-O legacy, default
// sftp), copies a file each way through the proxy.
func TestSCP(t *testing.T) {
	if _, err := exec.LookPath("scp"); err != nil {
		t.Fatal("scp is not installed (openssh-client)")
	}
	srv, signer := start(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	pemBlock, err := gossh.MarshalPrivateKey(privOf(t, signer), "")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(key, pemEncode(pemBlock), 0o600)
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("scp content\n"), 0o644)
	for _, legacy := range []bool{true, false} {
		dst := filepath.Join(dir, "dst")
		back := filepath.Join(dir, "back")
		os.Remove(dst)
		os.Remove(back)
		args := []string{"-q", "-i", key, "-P", portOf(srv), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes"}
		if legacy {
			args = append(args, "-O")
		}
		if out, err := exec.Command("scp", append(args, src, "u@127.0.0.1:"+dst)...).CombinedOutput(); err != nil {
			t.Fatalf("scp (legacy %v) up: %v\n%s", legacy, err, out)
		}
		if out, err := exec.Command("scp", append(args, "u@127.0.0.1:"+dst, back)...).CombinedOutput(); err != nil {
			t.Fatalf("scp (legacy %v) down: %v\n%s", legacy, err, out)
		}
		if b, _ := os.ReadFile(back); string(b) != "scp content\n" {
			t.Fatalf("legacy %v: round trip gave %q", legacy, b)
		}
	}
}

// TestClose: Close ends the listener, open connections and the commands
// running, and returns only after.
func TestClose(t *testing.T) {
	srv, signer := start(t)
	c, err := dial(t, srv, signer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _ := c.NewSession()
	marker := filepath.Join(t.TempDir(), "started")
	done := make(chan error, 1)
	go func() {
		done <- s.Run("echo $$ >" + marker + ".tmp; mv " + marker + ".tmp " + marker + "; exec sleep 300")
	}()
	var pid int
	for i := 0; ; i++ {
		if b, err := os.ReadFile(marker); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			break
		}
		if i > 1000 {
			t.Fatal("the command never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("the session ended well after Close")
	}
	if conn, err := net.Dial("tcp", srv.Addr()); err == nil {
		conn.Close()
		t.Error("still listening after Close")
	}
	if pid <= 0 || syscall.Kill(pid, 0) == nil {
		t.Errorf("the command (pid %d) still runs", pid)
	}
}
