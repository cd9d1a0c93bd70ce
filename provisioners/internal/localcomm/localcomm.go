package localcomm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/bake-tool/bake/provisioners"
)

// Comm runs commands on this host and maps machine paths under Root.
//
// A machine path that is already inside Root is used as it is; any other
// absolute path p becomes Root+p, and a relative one Root/p. Command lines
// are not rewritten: a test that runs what it uploaded uses paths inside
// Root (t.TempDir() paths), so that both sides agree.
type Comm struct {
	// Root holds the machine's files; commands run with it as their
	// working directory.
	Root string
	// Env is added to the environment of every command.
	Env []string

	// FailRuns makes the next FailRuns calls of Run fail before starting
	// the command, as a machine that is still rebooting does.
	FailRuns int
	// DisconnectOn makes Run return provisioners.ErrDisconnected, after
	// the command ran, for every command line containing this text.
	DisconnectOn string

	mu       sync.Mutex
	commands []string
	closed   bool
}

var _ provisioners.Communicator = (*Comm)(nil)

// New returns a Comm rooted at root.
func New(root string) *Comm { return &Comm{Root: root} }

// Path maps the machine path p to the host path that holds it.
func (c *Comm) Path(p string) string {
	if c.Root == "" {
		return p
	}
	root := filepath.Clean(c.Root)
	if !filepath.IsAbs(p) {
		return filepath.Join(root, p)
	}
	clean := filepath.Clean(p)
	if clean == root || strings.HasPrefix(clean, root+string(filepath.Separator)) {
		return clean
	}
	return filepath.Join(root, clean)
}

// Commands returns the command lines Run was given, in order, including
// those it failed to start.
func (c *Comm) Commands() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.commands...)
}

// errStart is what Run returns while FailRuns is not used up.
var errStart = errors.New("localcomm: machine not reachable yet")

// Run runs cmd.Command with /bin/sh in its own process group, the command
// line handed over in the environment as the docker communicator does
// (provisioners.EvalCommand); when ctx is done the whole group is killed.
func (c *Comm) Run(ctx context.Context, cmd *provisioners.Cmd) (int, error) {
	c.mu.Lock()
	c.commands = append(c.commands, cmd.Command)
	closed := c.closed
	fail := c.FailRuns > 0
	if fail {
		c.FailRuns--
	}
	c.mu.Unlock()
	if closed {
		return -1, errors.New("localcomm: closed")
	}
	if fail {
		return -1, errStart
	}
	sh := exec.CommandContext(ctx, "/bin/sh", "-c", provisioners.EvalCommand)
	sh.Dir = c.Root
	sh.Env = append(os.Environ(), c.Env...)
	sh.Env = append(sh.Env, provisioners.CommandVar+"="+cmd.Command)
	sh.Stdin, sh.Stdout, sh.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sh.Cancel = func() error { return syscall.Kill(-sh.Process.Pid, syscall.SIGKILL) }
	err := sh.Run()
	if ctx.Err() != nil {
		return -1, fmt.Errorf("localcomm: run: %w", context.Cause(ctx))
	}
	status := 0
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		status = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			status = 128 + int(ws.Signal())
		}
	default:
		return -1, fmt.Errorf("localcomm: run: %w", err)
	}
	if c.DisconnectOn != "" && strings.Contains(cmd.Command, c.DisconnectOn) {
		return -1, fmt.Errorf("localcomm: run: %w", provisioners.ErrDisconnected)
	}
	return status, nil
}

// Upload writes src to the machine file dst with mode (0 means 0644),
// creating its directory.
func (c *Comm) Upload(ctx context.Context, dst string, src io.Reader, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	p := c.Path(dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("localcomm: upload %s: %w", dst, err)
	}
	if err := writeFile(p, src, mode); err != nil {
		return fmt.Errorf("localcomm: upload %s: %w", dst, err)
	}
	return nil
}

// UploadDir copies the local directory src into the machine directory
// dst with rsync's trailing-slash rule, keeping permission bits.
func (c *Comm) UploadDir(ctx context.Context, dst, src string) error {
	if err := copyDir(ctx, c.Path(dst), src); err != nil {
		return fmt.Errorf("localcomm: upload directory %s to %s: %w", src, dst, err)
	}
	return nil
}

// Download writes the content of the machine file src to dst.
func (c *Comm) Download(ctx context.Context, src string, dst io.Writer) error {
	f, err := os.Open(c.Path(src))
	if err != nil {
		return fmt.Errorf("localcomm: download %s: %w", src, err)
	}
	defer f.Close()
	if _, err := io.Copy(dst, f); err != nil {
		return fmt.Errorf("localcomm: download %s: %w", src, err)
	}
	return nil
}

// DownloadDir copies the machine directory src into the local directory
// dst with rsync's trailing-slash rule, keeping permission bits.
func (c *Comm) DownloadDir(ctx context.Context, src, dst string) error {
	from := c.Path(src)
	if strings.HasSuffix(src, "/") {
		from += "/"
	}
	if err := copyDir(ctx, dst, from); err != nil {
		return fmt.Errorf("localcomm: download directory %s to %s: %w", src, dst, err)
	}
	return nil
}

// Close makes later calls fail; it is idempotent.
func (c *Comm) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

// copyDir copies the directory src into dst: its contents when src ends
// in "/", else the directory itself as dst/base(src).
func copyDir(ctx context.Context, dst, src string) error {
	target := dst
	if !strings.HasSuffix(src, "/") {
		target = filepath.Join(dst, filepath.Base(src))
	}
	src = filepath.Clean(src)
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(target, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			return os.Chmod(to, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(to)
			return os.Symlink(link, to)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return writeFile(to, f, info.Mode().Perm())
		}
		return nil
	})
}

func writeFile(p string, r io.Reader, mode fs.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
