package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/bake-tool/bake/provisioners"
)

// Comm is a connection to one machine over SSH. It implements
// provisioners.Communicator.
//
// When the connection is lost (a reboot, a network failure caught by the
// keep-alives), the call that was running returns an error wrapping
// provisioners.ErrDisconnected and the next call connects again, retrying
// as Connect does.
type Comm struct {
	cfg    Config
	dialer *dialer

	life   context.Context // canceled by Close, to stop a reconnect
	cancel context.CancelFunc

	mu     sync.Mutex
	conn   *conn // nil once lost and not yet replaced, or after Close
	closed bool
}

var _ provisioners.Communicator = (*Comm)(nil)

// errClosed is returned by calls on a closed Comm.
var errClosed = errors.New("ssh: communicator is closed")

// connection returns a live connection, reconnecting if the last one was
// lost.
func (c *Comm) connection(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if c.conn != nil && c.conn.alive() {
		return c.conn, nil
	}
	if c.conn != nil {
		c.conn.close()
		c.conn = nil
	}
	// Close cancels life, so a reconnect does not hold Close up.
	ctx, stop := mergeCancel(ctx, c.life)
	defer stop()
	cn, err := c.dialer.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	c.conn = cn
	return cn, nil
}

// mergeCancel returns a context canceled when either ctx or other is.
func mergeCancel(ctx, other context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(other, func() { cancel(errClosed) })
	return ctx, func() { stop(); cancel(nil) }
}

// lost wraps err with provisioners.ErrDisconnected and the reason when cn
// was lost; otherwise it returns err.
func lost(cn *conn, err error) error {
	if cause := cn.cause(); cause != nil {
		return fmt.Errorf("%w: %w (%w)", provisioners.ErrDisconnected, cause, err)
	}
	return err
}

// Run runs cmd.Command with the login shell of the user and returns its
// exit status. Output is copied to cmd.Stdout and cmd.Stderr as it
// arrives. A command killed by a signal reports 128 plus the signal's
// number. When ctx is done the command and what it started are killed
// (see stop) and Run returns ctx's error. When the connection is lost, Run returns an
// error wrapping provisioners.ErrDisconnected.
//
// The command line is not repeated in errors: it may carry secrets passed
// as environment variables.
func (c *Comm) Run(ctx context.Context, cmd *provisioners.Cmd) (int, error) {
	cn, err := c.connection(ctx)
	if err != nil {
		return -1, err
	}
	sess, err := cn.client.NewSession()
	if err != nil {
		return -1, lost(cn, fmt.Errorf("ssh: open session: %w", err))
	}
	defer sess.Close()

	if c.cfg.PTY {
		modes := gossh.TerminalModes{gossh.ECHO: 0, gossh.TTY_OP_ISPEED: 38400, gossh.TTY_OP_OSPEED: 38400}
		if err := sess.RequestPty("xterm", 40, 200, modes); err != nil {
			return -1, lost(cn, fmt.Errorf("ssh: request pty: %w", err))
		}
	}
	// The output is copied here rather than by the session, so that Wait
	// reports only the remote side and a failing local writer is told
	// apart from the command's failure.
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return -1, err
	}
	stderr, err := sess.StderrPipe()
	if err != nil {
		return -1, err
	}
	var stdin io.WriteCloser
	if cmd.Stdin != nil {
		if stdin, err = sess.StdinPipe(); err != nil {
			return -1, err
		}
	}
	if err := sess.Start(cmd.Command); err != nil {
		return -1, lost(cn, fmt.Errorf("ssh: start command: %w", err))
	}
	if stdin != nil {
		// Not waited for: a command may exit without reading its input.
		go func() {
			_, _ = io.Copy(stdin, cmd.Stdin)
			stdin.Close()
		}()
	}
	copied := make(chan error, 2)
	go func() { copied <- copyOut(cmd.Stdout, stdout) }()
	go func() { copied <- copyOut(cmd.Stderr, stderr) }()
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()

	var waitErr error
	select {
	case waitErr = <-waited:
	case <-ctx.Done():
		c.stop(cn, sess)
		return -1, fmt.Errorf("ssh: run command: %w", ctx.Err())
	}
	var copyErr error
	for range 2 {
		select {
		case err := <-copied:
			copyErr = errors.Join(copyErr, err)
		case <-ctx.Done():
			return -1, fmt.Errorf("ssh: run command: %w", ctx.Err())
		}
	}

	var exit *gossh.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exit):
	default:
		// ExitMissingError, io.EOF or a broken channel: the remote end
		// went away without reporting a status.
		cause := cn.cause()
		if cause == nil {
			cause = waitErr
		}
		return -1, fmt.Errorf("ssh: run command: %w: %w", provisioners.ErrDisconnected, cause)
	}
	if copyErr != nil {
		return -1, fmt.Errorf("ssh: copy command output: %w", copyErr)
	}
	if exit != nil {
		return exit.ExitStatus(), nil
	}
	return 0, nil
}

// stopScript kills, on Linux, every command running on the connection
// except itself: the processes whose parent is the sshd process serving
// the connection (its own parent, $PPID), each with its process group.
// sshd starts each command as a session leader, so the group holds what
// the command started, unless something left it on purpose. The SFTP
// server, a child too when sshd does not run it internally, is spared.
const stopScript = `for d in /proc/[0-9]*; do
p=${d#/proc/}
[ "$p" = "$$" ] && continue
s=$(cat "$d/stat" 2>/dev/null) || continue
s=${s##*) }
set -- $s
[ "$2" = "$PPID" ] || continue
[ "$(cat "$d/comm" 2>/dev/null)" = sftp-server ] && continue
kill -s KILL -- "-$p" 2>/dev/null || kill -s KILL "$p" 2>/dev/null
done
true`

// stopTimeout bounds stopping a canceled command.
const stopTimeout = 10 * time.Second

// stop kills the command of sess, whose Run was canceled. sshd honours a
// signal request only for logins it runs with privilege separation, which
// is every user but root; for root (and as a second try) stopScript runs
// in a new session. Both are best effort: a failure is logged.
func (c *Comm) stop(cn *conn, sess *gossh.Session) {
	defer sess.Close()
	_ = sess.Signal(gossh.SIGKILL)
	killer, err := cn.client.NewSession()
	if err != nil {
		c.dialer.log.Warn("ssh: stop canceled command", "err", err)
		return
	}
	defer killer.Close()
	done := make(chan error, 1)
	go func() { done <- killer.Run(stopScript) }()
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case err = <-done:
	case <-t.C:
		err = fmt.Errorf("no answer in %s", stopTimeout)
	}
	if err != nil {
		c.dialer.log.Warn("ssh: stop canceled command", "err", err)
	}
}

// copyOut copies a command's output stream to w (nil discards it). Errors
// reading r are the connection's and are reported by Wait; errors writing
// w are returned.
func copyOut(w io.Writer, r io.Reader) error {
	if w == nil {
		w = io.Discard
	}
	buf := make([]byte, 32*1024)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				// Keep draining so the remote side does not block.
				_, _ = io.Copy(io.Discard, r)
				return err
			}
		}
		if rerr != nil {
			return nil
		}
	}
}

// Upload writes src to the file dst on the machine with permission bits
// mode (0 means 0644), replacing any file there.
func (c *Comm) Upload(ctx context.Context, dst string, src io.Reader, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	cn, err := c.connection(ctx)
	if err != nil {
		return err
	}
	if c.cfg.FileTransfer == TransferSCP {
		err = scpUpload(ctx, cn, dst, src, mode)
	} else {
		err = sftpUpload(ctx, cn, dst, src, mode)
	}
	if err != nil {
		return lost(cn, fmt.Errorf("ssh: upload %s: %w", dst, err))
	}
	return nil
}

// UploadDir copies the local directory src into dst on the machine,
// creating dst if needed. As with rsync, "src/" copies the contents of src
// into dst and "src" copies src itself to dst/src. Permission bits are
// kept. Existing files are overwritten in place: as with cp and scp, a
// read-only file in the way stops any user but root. With SFTP, symbolic links are recreated as links; SCP has no links
// and copies what they point to.
func (c *Comm) UploadDir(ctx context.Context, dst, src string) error {
	cn, err := c.connection(ctx)
	if err != nil {
		return err
	}
	if c.cfg.FileTransfer == TransferSCP {
		err = scpUploadDir(ctx, cn, dst, src)
	} else {
		err = sftpUploadDir(ctx, cn, dst, src)
	}
	if err != nil {
		return lost(cn, fmt.Errorf("ssh: upload directory %s to %s: %w", src, dst, err))
	}
	return nil
}

// Download writes the content of the machine's file src to dst.
func (c *Comm) Download(ctx context.Context, src string, dst io.Writer) error {
	cn, err := c.connection(ctx)
	if err != nil {
		return err
	}
	if c.cfg.FileTransfer == TransferSCP {
		err = scpDownload(ctx, cn, src, dst)
	} else {
		err = sftpDownload(ctx, cn, src, dst)
	}
	if err != nil {
		return lost(cn, fmt.Errorf("ssh: download %s: %w", src, err))
	}
	return nil
}

// DownloadDir copies the machine's directory src into the local directory
// dst, creating dst if needed, with the same trailing-slash rule and
// permission bits as UploadDir.
func (c *Comm) DownloadDir(ctx context.Context, src, dst string) error {
	cn, err := c.connection(ctx)
	if err != nil {
		return err
	}
	if c.cfg.FileTransfer == TransferSCP {
		err = scpDownloadDir(ctx, cn, src, dst)
	} else {
		err = sftpDownloadDir(ctx, cn, src, dst)
	}
	if err != nil {
		return lost(cn, fmt.Errorf("ssh: download directory %s to %s: %w", src, dst, err))
	}
	return nil
}

// Close closes the connection. It is idempotent, and stops a reconnect in
// progress.
func (c *Comm) Close() error {
	c.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		c.conn.close()
		c.conn = nil
	}
	return nil
}
