package ssh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

// ErrAuthFailed is wrapped by Connect's error when the server refused the
// login HandshakeAttempts times.
var ErrAuthFailed = errors.New("authentication failed")

// Backoff between connection attempts: it starts short, for a machine that
// is nearly up, and doubles up to a cap that keeps the wait after the
// machine comes up small.
const (
	firstBackoff  = 200 * time.Millisecond
	maxBackoff    = 2 * time.Second
	attemptBound  = 30 * time.Second // one dial plus handshake
	lostCauseWait = 200 * time.Millisecond
)

// Connect connects to the machine described by cfg and returns a Comm for
// it. While the machine cannot be reached it retries, with a backoff, until
// cfg.Timeout has passed; the error then names the last cause. It gives up
// sooner when cfg.HandshakeAttempts handshakes failed, which is how a wrong
// password or key shows (the error wraps ErrAuthFailed), and at once on a
// configuration error or when ctx is done.
//
// log receives progress (each failed attempt at debug level, the connection
// at info level); nil discards it.
func Connect(ctx context.Context, cfg Config, log *slog.Logger) (*Comm, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := newDialer(cfg, log)
	if err != nil {
		return nil, err
	}
	cn, err := d.dial(ctx)
	if err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	return &Comm{cfg: cfg, dialer: d, conn: cn, life: life, cancel: cancel}, nil
}

// dialer makes connections for one Config.
type dialer struct {
	cfg     Config
	log     *slog.Logger
	client  *gossh.ClientConfig
	bastion *gossh.ClientConfig // nil without a bastion
}

func newDialer(cfg Config, log *slog.Logger) (*dialer, error) {
	client, err := clientConfig(cfg.User, cfg.Password, cfg.PrivateKey, cfg.HostKeyCallback)
	if err != nil {
		return nil, err
	}
	d := &dialer{cfg: cfg, log: log, client: client}
	if b := cfg.Bastion; b != nil {
		if d.bastion, err = clientConfig(b.User, b.Password, b.PrivateKey, b.HostKeyCallback); err != nil {
			return nil, fmt.Errorf("bastion: %w", err)
		}
	}
	return d, nil
}

// handshakeError is an attempt that reached an SSH server which then
// refused the login or broke off the handshake.
type handshakeError struct {
	user string
	auth bool // the server refused every authentication method
	err  error
}

func (e *handshakeError) Error() string { return e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// permanentError is an attempt that cannot succeed by retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// dial retries dialOnce until it succeeds, the timeout passes, the
// handshake attempts are used up or ctx is done.
func (d *dialer) dial(ctx context.Context) (*conn, error) {
	addr := d.cfg.Addr()
	start := time.Now()
	deadline := start.Add(d.cfg.Timeout)
	backoff := firstBackoff
	var lastErr error
	handshakes := 0
	for attempt := 1; ; attempt++ {
		bound := time.Now().Add(attemptBound)
		if deadline.Before(bound) {
			bound = deadline
		}
		actx, cancel := context.WithDeadline(ctx, bound)
		cn, err := d.dialOnce(actx)
		cancel()
		if err == nil {
			d.log.Info("ssh connected", "addr", addr, "user", d.cfg.User, "attempts", attempt, "elapsed", time.Since(start).Round(time.Millisecond))
			return cn, nil
		}
		// An attempt cut short by the overall deadline says less than the
		// one before it (a refused connection, say).
		if lastErr == nil || !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) || time.Now().Before(deadline) {
			lastErr = err
		}
		d.log.Debug("ssh not ready", "addr", addr, "attempt", attempt, "err", err)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ssh: connect to %s: %w: last error: %w", addr, ctx.Err(), lastErr)
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return nil, fmt.Errorf("ssh: connect to %s: %w", addr, err)
		}
		var hs *handshakeError
		if errors.As(err, &hs) {
			handshakes++
			if handshakes >= d.cfg.HandshakeAttempts {
				if hs.auth {
					return nil, fmt.Errorf("ssh: %w for user %s at %s after %d attempts: last error: %w",
						ErrAuthFailed, hs.user, addr, handshakes, err)
				}
				return nil, fmt.Errorf("ssh: handshake with %s failed %d times: last error: %w", addr, handshakes, err)
			}
		}
		wait := min(backoff, time.Until(deadline))
		if wait <= 0 {
			return nil, fmt.Errorf("ssh: no connection to %s after %s: last error: %w", addr, d.cfg.Timeout, lastErr)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("ssh: connect to %s: %w: last error: %w", addr, ctx.Err(), lastErr)
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// dialOnce makes one attempt: a TCP connection, directly or through the
// bastion, and the SSH handshake on it.
func (d *dialer) dialOnce(ctx context.Context) (*conn, error) {
	addr := d.cfg.Addr()
	var (
		nc      net.Conn
		bastion *gossh.Client
		err     error
	)
	if b := d.cfg.Bastion; b != nil {
		baddr := joinHostPort(b.Host, b.Port)
		var bnc net.Conn
		if bnc, err = new(net.Dialer).DialContext(ctx, "tcp", baddr); err != nil {
			return nil, fmt.Errorf("bastion: %w", err)
		}
		if bastion, err = handshake(ctx, bnc, baddr, d.bastion); err != nil {
			return nil, fmt.Errorf("bastion %s: %w", baddr, err)
		}
		if nc, err = bastion.DialContext(ctx, "tcp", addr); err != nil {
			bastion.Close()
			err = fmt.Errorf("dial %s through bastion %s: %w", addr, baddr, err)
			var oce *gossh.OpenChannelError
			if errors.As(err, &oce) && oce.Reason == gossh.Prohibited {
				return nil, &permanentError{err}
			}
			return nil, err
		}
	} else if d.cfg.Dial != nil {
		if nc, err = d.cfg.Dial(ctx, addr); err != nil {
			return nil, err
		}
	} else if nc, err = new(net.Dialer).DialContext(ctx, "tcp", addr); err != nil {
		return nil, err
	}
	client, err := handshake(ctx, nc, addr, d.client)
	if err != nil {
		if bastion != nil {
			bastion.Close()
		}
		return nil, err
	}
	return newConn(client, bastion, d.cfg), nil
}

// handshake runs the SSH handshake on nc, closing nc if ctx ends first.
func handshake(ctx context.Context, raw net.Conn, addr string, cfg *gossh.ClientConfig) (*gossh.Client, error) {
	nc := &readCounter{Conn: raw}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	c, chans, reqs, err := gossh.NewClientConn(nc, addr, cfg)
	if !stop() {
		if err == nil {
			c.Close()
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", addr, ctx.Err())
	}
	if err != nil {
		nc.Close()
		if nc.n.Load() == 0 {
			// Nothing came back, not even the server's version line: a
			// port forward (qemu's, a load balancer's) that accepts before
			// the guest's sshd is up. That is "not reachable yet", not a
			// failed handshake, and must not use up HandshakeAttempts.
			return nil, fmt.Errorf("no SSH server answered at %s yet: %w", addr, err)
		}
		return nil, &handshakeError{
			user: cfg.User,
			auth: strings.Contains(err.Error(), "unable to authenticate"),
			err:  err,
		}
	}
	return gossh.NewClient(c, chans, reqs), nil
}

// conn is one live SSH connection and what hangs off it.
type conn struct {
	client  *gossh.Client
	bastion *gossh.Client // nil without a bastion

	lost     chan struct{} // closed when the connection ended
	lostOnce sync.Once
	lostErr  error // why; set before lost is closed

	sftpMu sync.Mutex
	sftp   *sftp.Client
}

func newConn(client, bastion *gossh.Client, cfg Config) *conn {
	c := &conn{client: client, bastion: bastion, lost: make(chan struct{})}
	go func() {
		err := client.Wait()
		if err == nil {
			err = errors.New("server closed the connection")
		}
		c.fail(err)
	}()
	if cfg.KeepAliveInterval > 0 {
		go c.keepAlive(cfg.KeepAliveInterval, cfg.KeepAliveCountMax)
	}
	return c
}

// fail marks the connection lost because of err and closes it.
func (c *conn) fail(err error) {
	c.lostOnce.Do(func() {
		c.lostErr = err
		close(c.lost)
		c.client.Close()
		if c.bastion != nil {
			c.bastion.Close()
		}
	})
}

// alive reports whether the connection has not been lost.
func (c *conn) alive() bool {
	select {
	case <-c.lost:
		return false
	default:
		return true
	}
}

// close closes the connection on purpose.
func (c *conn) close() error {
	c.sftpMu.Lock()
	if c.sftp != nil {
		c.sftp.Close()
		c.sftp = nil
	}
	c.sftpMu.Unlock()
	c.fail(errors.New("connection closed"))
	return nil
}

// keepAlive sends keepalive@openssh.com requests every interval and fails
// the connection when none is answered for countMax intervals. Any reply,
// even OpenSSH's "request failed", shows the peer is there.
func (c *conn) keepAlive(interval time.Duration, countMax int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.lost:
			return
		case <-tick.C:
		}
		replied := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		limit := time.NewTimer(interval * time.Duration(countMax))
		select {
		case <-c.lost:
			limit.Stop()
			return
		case err := <-replied:
			limit.Stop()
			if err != nil {
				c.fail(fmt.Errorf("keep-alive: %w", err))
				return
			}
		case <-limit.C:
			c.fail(fmt.Errorf("keep-alive: no reply from the server in %s", interval*time.Duration(countMax)))
			return
		}
	}
}

// cause waits briefly for the connection to be marked lost and returns
// why, or nil if it is still up. A session cut off by a lost connection
// can notice before the connection's own watcher does.
func (c *conn) cause() error {
	t := time.NewTimer(lostCauseWait)
	defer t.Stop()
	select {
	case <-c.lost:
		return c.lostErr
	case <-t.C:
		return nil
	}
}

// sftpClient returns the connection's SFTP client, starting it on first
// use.
func (c *conn) sftpClient() (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	s, err := sftp.NewClient(c.client, sftp.UseConcurrentWrites(true))
	if err != nil {
		return nil, fmt.Errorf("start sftp: %w", err)
	}
	c.sftp = s
	return s, nil
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readCounter counts the bytes read from a connection.
type readCounter struct {
	net.Conn
	n atomic.Int64
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}
