package sshproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// scpCmd is a parsed legacy scp server command: "scp [-v] [-p] [-d] -t
// PATH" (sink: the client sends) or "scp -f PATH" (source).
type scpCmd struct {
	sink bool
	dir  bool // -d: PATH must be a directory
	path string
}

// parseSCP recognises the command a legacy scp client runs on the server.
// Recursive copies (-r) are not served.
func parseSCP(command string) (scpCmd, bool) {
	f := strings.Fields(command)
	if len(f) < 3 || path.Base(f[0]) != "scp" {
		return scpCmd{}, false
	}
	var c scpCmd
	mode := false
	for i, a := range f[1:] {
		switch {
		case a == "--":
		case a == "-t" || a == "-f":
			c.sink, mode = a == "-t", true
		case a == "-d":
			c.dir = true
		case a == "-v" || a == "-p":
		case !strings.HasPrefix(a, "-"):
			c.path = unquote(strings.Join(f[i+1:], " "))
			return c, mode && c.path != ""
		default:
			return scpCmd{}, false
		}
	}
	return scpCmd{}, false
}

// unquote undoes the single quotes scp clients put around a path.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], `'\''`, `'`)
	}
	return s
}

func (s *Server) scp(ch gossh.Channel, c scpCmd) error {
	if c.sink {
		return s.scpSink(ch, c)
	}
	return s.scpSource(ch, c)
}

// scpSink receives files ("C0644 SIZE NAME") and uploads each.
func (s *Server) scpSink(ch gossh.Channel, c scpCmd) error {
	r := bufio.NewReader(ch)
	ack := func() error { _, err := ch.Write([]byte{0}); return err }
	if err := ack(); err != nil {
		return err
	}
	for {
		line, err := r.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read header: %w", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "T"):
			if err := ack(); err != nil {
				return err
			}
			continue
		case strings.HasPrefix(line, "C"):
		default:
			return fmt.Errorf("unsupported scp record %.1q", line)
		}
		f := strings.SplitN(line[1:], " ", 3)
		if len(f) != 3 {
			return errors.New("malformed file record")
		}
		mode, err1 := strconv.ParseUint(f[0], 8, 32)
		size, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || size < 0 || strings.Contains(f[2], "/") || f[2] == "" || f[2] == "." || f[2] == ".." {
			return errors.New("malformed file record")
		}
		dst := c.path
		if c.dir || strings.HasSuffix(dst, "/") {
			dst = path.Join(dst, f[2])
		}
		if err := ack(); err != nil {
			return err
		}
		if err := s.comm.Upload(s.ctx, dst, io.LimitReader(r, size), fs.FileMode(mode).Perm()); err != nil {
			ch.Write([]byte("\x01scp: upload failed\n"))
			return fmt.Errorf("upload %s: %w", dst, err)
		}
		if b, err := r.ReadByte(); err != nil || b != 0 {
			return errors.New("missing end of file")
		}
		if err := ack(); err != nil {
			return err
		}
	}
}

// scpSource sends one file.
func (s *Server) scpSource(ch gossh.Channel, c scpCmd) error {
	r := bufio.NewReader(ch)
	wait := func() error {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if b != 0 {
			return errors.New("refused by client")
		}
		return nil
	}
	if err := wait(); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := s.comm.Download(s.ctx, c.path, &buf); err != nil {
		ch.Write([]byte("\x01scp: download failed\n"))
		return fmt.Errorf("download %s: %w", c.path, err)
	}
	if _, err := fmt.Fprintf(ch, "C0644 %d %s\n", buf.Len(), path.Base(c.path)); err != nil {
		return err
	}
	if err := wait(); err != nil {
		return err
	}
	if _, err := ch.Write(append(buf.Bytes(), 0)); err != nil {
		return err
	}
	return wait()
}
