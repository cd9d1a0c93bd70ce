package sshproxy

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	gossh "golang.org/x/crypto/ssh"

	"github.com/bake-tool/bake/provisioners"
)

// Server is a running loopback SSH endpoint; see the package comment.
type Server struct {
	comm     provisioners.Communicator
	cfg      *gossh.ServerConfig
	ln       net.Listener
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	closeErr error
	once     sync.Once
	// Requests counts the exec, sftp and scp requests served, for tests
	// and measurements.
	requests int
}

// Start listens on 127.0.0.1:port (port 0 picks a free one) and serves
// comm to clients that authenticate with authorized, under any user
// name. The host key is generated in memory and never written. ctx bounds
// the commands the server runs; Close must be called in any case.
func Start(ctx context.Context, comm provisioners.Communicator, authorized gossh.PublicKey, port int) (*Server, error) {
	if authorized == nil {
		return nil, errors.New("sshproxy: no authorized key")
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sshproxy: generate host key: %w", err)
	}
	hostKey, err := gossh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, fmt.Errorf("sshproxy: host key: %w", err)
	}
	want := authorized.Marshal()
	cfg := &gossh.ServerConfig{
		PublicKeyCallback: func(_ gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			if subtle.ConstantTimeCompare(key.Marshal(), want) == 1 {
				return nil, nil
			}
			return nil, errors.New("key not accepted")
		},
		MaxAuthTries: 3,
	}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("sshproxy: listen: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &Server{comm: comm, cfg: cfg, ln: ln, ctx: sctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Port is the loopback port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Requests returns how many exec, sftp and scp requests were served.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Close stops listening, closes every connection, cancels the commands in
// flight and waits until every goroutine of the server has returned. It
// is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.closeErr = s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
	})
	return s.closeErr
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *Server) serveConn(c net.Conn) {
	sc, chans, reqs, err := gossh.NewServerConn(c, s.cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go gossh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(gossh.UnknownChannelType, "only sessions are served")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ch, creqs)
		}()
	}
}

// session serves one session channel: env requests are accepted and
// ignored; the first exec or sftp subsystem request decides what runs.
func (s *Server) session(ch gossh.Channel, reqs <-chan *gossh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "env":
			req.Reply(true, nil)
		case "exec":
			command, ok := stringPayload(req.Payload)
			req.Reply(ok, nil)
			if !ok {
				return
			}
			s.count()
			go gossh.DiscardRequests(reqs)
			status := s.exec(ch, command)
			sendStatus(ch, status)
			return
		case "subsystem":
			name, ok := stringPayload(req.Payload)
			if !ok || name != "sftp" {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			s.count()
			go gossh.DiscardRequests(reqs)
			s.sftp(ch)
			sendStatus(ch, 0)
			return
		default:
			// No pty, shell, agent or X11 forwarding.
			req.Reply(false, nil)
		}
	}
}

func (s *Server) count() {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
}

// exec runs command through the communicator, or serves it itself when it
// is a legacy scp transfer, and returns the exit status to report.
func (s *Server) exec(ch gossh.Channel, command string) int {
	if sc, ok := parseSCP(command); ok {
		if err := s.scp(ch, sc); err != nil {
			fmt.Fprintf(ch.Stderr(), "scp: %v\n", err)
			return 1
		}
		return 0
	}
	status, err := s.comm.Run(s.ctx, &provisioners.Cmd{Command: command, Stdin: ch, Stdout: ch, Stderr: ch.Stderr()})
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "bake proxy: %v\n", err)
		return 255
	}
	return status
}

func sendStatus(ch gossh.Channel, status int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(status))
	ch.SendRequest("exit-status", false, b[:])
}

// stringPayload decodes an SSH string, the payload of exec and subsystem.
func stringPayload(p []byte) (string, bool) {
	if len(p) < 4 {
		return "", false
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(len(p)-4) {
		return "", false
	}
	return string(p[4 : 4+n]), true
}

var _ io.Closer = (*Server)(nil)
