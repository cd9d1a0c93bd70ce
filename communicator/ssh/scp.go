package ssh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/bake-tool/bake/internal/destdir"
	"github.com/bake-tool/bake/internal/spool"
)

// The SCP protocol, as spoken by OpenSSH's "scp -t" (sink) and "scp -f"
// (source): the sink answers every message with a status byte (0 ok, 1
// warning, 2 error, the last two followed by a line of text). Messages:
//
//	T<mtime> 0 <atime> 0   times for the next C or D
//	C<mode> <size> <name>  a file, then size bytes and a 0 byte
//	D<mode> 0 <name>       enter a directory
//	E                      leave it

// scpSession is one remote scp process.
type scpSession struct {
	ctx    context.Context
	sess   *gossh.Session
	w      io.WriteCloser
	r      *bufio.Reader
	stderr *tailBuffer
	stop   func() bool
}

// startSCP runs "scp FLAGS -- PATH" on the machine.
func startSCP(ctx context.Context, cn *conn, flags, p string) (*scpSession, error) {
	sess, err := cn.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	s := &scpSession{ctx: ctx, sess: sess, stderr: &tailBuffer{max: 4096}}
	if s.w, err = sess.StdinPipe(); err != nil {
		sess.Close()
		return nil, err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	s.r = bufio.NewReaderSize(out, 64*1024)
	sess.Stderr = s.stderr
	if err := sess.Start("scp " + flags + " -- " + shellQuote(p)); err != nil {
		sess.Close()
		return nil, fmt.Errorf("start scp: %w", err)
	}
	s.stop = context.AfterFunc(ctx, func() { sess.Close() })
	return s, nil
}

// fail ends the session after a protocol error and returns the error,
// with ctx's error or the remote scp's complaint when there is one.
func (s *scpSession) fail(err error) error {
	s.stop()
	s.sess.Close()
	if cerr := s.ctx.Err(); cerr != nil {
		return cerr
	}
	if msg := s.stderr.String(); msg != "" {
		return fmt.Errorf("%w: remote scp: %s", err, msg)
	}
	return err
}

// finish closes scp's input and waits for it to exit.
func (s *scpSession) finish() error {
	s.w.Close()
	err := s.sess.Wait()
	s.stop()
	s.sess.Close()
	if cerr := s.ctx.Err(); cerr != nil {
		return cerr
	}
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("remote scp exited with status %d: %s", exit.ExitStatus(), s.stderr.String())
	}
	return err
}

// ack reads the sink's reply to one message.
func (s *scpSession) ack() error {
	b, err := s.r.ReadByte()
	if err != nil {
		return fmt.Errorf("read scp reply: %w", err)
	}
	switch b {
	case 0:
		return nil
	case 1, 2:
		line, _ := s.r.ReadString('\n')
		return fmt.Errorf("remote scp: %s", strings.TrimSpace(line))
	default:
		line, _ := s.r.ReadString('\n')
		return fmt.Errorf("unexpected scp reply %q", string(b)+strings.TrimSpace(line))
	}
}

// send writes one protocol message and reads the reply.
func (s *scpSession) send(format string, args ...any) error {
	if _, err := fmt.Fprintf(s.w, format, args...); err != nil {
		return fmt.Errorf("write to scp: %w", err)
	}
	return s.ack()
}

// sendFile sends one file: size bytes from r.
func (s *scpSession) sendFile(name string, mode fs.FileMode, size int64, mtime time.Time, r io.Reader) error {
	if !mtime.IsZero() {
		if err := s.send("T%d 0 %d 0\n", mtime.Unix(), mtime.Unix()); err != nil {
			return err
		}
	}
	if err := s.send("C%04o %d %s\n", unixMode(mode), size, name); err != nil {
		return err
	}
	n, err := io.CopyN(s.w, &ctxReader{ctx: s.ctx, r: r}, size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: source ended after %d of %d bytes", name, n, size)
		}
		return err
	}
	if _, err := s.w.Write([]byte{0}); err != nil {
		return fmt.Errorf("write to scp: %w", err)
	}
	return s.ack()
}

func scpUpload(ctx context.Context, cn *conn, dst string, src io.Reader, mode fs.FileMode) error {
	r, size, cleanup, err := spool.Sized(src)
	if err != nil {
		return err
	}
	defer cleanup()
	s, err := startSCP(ctx, cn, "-tp", dst)
	if err != nil {
		return err
	}
	if err := s.ack(); err != nil {
		return s.fail(err)
	}
	if err := s.sendFile(path.Base(dst), mode, size, time.Time{}, r); err != nil {
		return s.fail(err)
	}
	return s.finish()
}

func scpUploadDir(ctx context.Context, cn *conn, dst, src string) error {
	src, target := dirTarget(src, dst, path.Join, filepath.Base)
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	if err := remoteMkdirAll(ctx, cn, dst); err != nil {
		return err
	}
	s, err := startSCP(ctx, cn, "-rtp", dst)
	if err != nil {
		return err
	}
	if err := s.ack(); err != nil {
		return s.fail(err)
	}
	if target == dst {
		err = s.sendDirContents(src)
	} else {
		err = s.sendEntry(src, path.Base(target))
	}
	if err != nil {
		return s.fail(err)
	}
	return s.finish()
}

// sendDirContents sends each entry of the local directory dir.
func (s *scpSession) sendDirContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := s.sendEntry(filepath.Join(dir, e.Name()), e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// sendEntry sends the local file or directory p under name. SCP has no
// symbolic links: what a link points to is sent.
func (s *scpSession) sendEntry(p, name string) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		if err := s.send("D%04o 0 %s\n", unixMode(fi.Mode()), name); err != nil {
			return err
		}
		if err := s.sendDirContents(p); err != nil {
			return err
		}
		return s.send("E\n")
	case fi.Mode().IsRegular():
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return s.sendFile(name, fi.Mode(), fi.Size(), fi.ModTime(), f)
	default:
		return fmt.Errorf("%s: cannot copy a %s", p, fi.Mode().Type())
	}
}

// remoteMkdirAll runs "mkdir -p" on the machine.
func remoteMkdirAll(ctx context.Context, cn *conn, dir string) error {
	sess, err := cn.client.NewSession()
	if err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	defer sess.Close()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	out, err := sess.CombinedOutput("mkdir -p -- " + shellQuote(dir))
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("create %s: %w: %s", dir, err, bytes.TrimSpace(out))
	}
	return nil
}

// scpSink receives what a remote "scp -f" sends.
type scpSink struct {
	// file is called for each file; it must read the content from r.
	file func(name string, mode fs.FileMode, mtime time.Time, r io.Reader) error
	// dir is called on entering a directory, end on leaving it.
	dir func(name string, mode fs.FileMode) error
	end func() error
}

// receive runs the sink side of the protocol until the source is done.
func (s *scpSession) receive(h scpSink) error {
	ok := func() error {
		if _, err := s.w.Write([]byte{0}); err != nil {
			return fmt.Errorf("write to scp: %w", err)
		}
		return nil
	}
	if err := ok(); err != nil {
		return err
	}
	var mtime time.Time
	for {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		kind, err := s.r.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read from scp: %w", err)
		}
		line, err := s.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("read from scp: %w", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch kind {
		case 1, 2:
			return fmt.Errorf("remote scp: %s", line)
		case 'T':
			var sec, usec, asec, ausec int64
			if _, err := fmt.Sscanf(line, "%d %d %d %d", &sec, &usec, &asec, &ausec); err != nil {
				return fmt.Errorf("bad scp time message %q", line)
			}
			mtime = time.Unix(sec, usec*1000)
		case 'C', 'D':
			mode, size, name, err := parseEntry(line)
			if err != nil {
				return err
			}
			if err := ok(); err != nil {
				return err
			}
			if kind == 'D' {
				if err := h.dir(name, mode); err != nil {
					return err
				}
				mtime = time.Time{}
				continue
			}
			lr := &io.LimitedReader{R: s.r, N: size}
			if err := h.file(name, mode, mtime, &ctxReader{ctx: s.ctx, r: lr}); err != nil {
				return err
			}
			mtime = time.Time{}
			if _, err := io.Copy(io.Discard, lr); err != nil {
				return fmt.Errorf("read from scp: %w", err)
			}
			if lr.N > 0 {
				return fmt.Errorf("read from scp: %s: %w", name, io.ErrUnexpectedEOF)
			}
			if err := s.ack(); err != nil {
				return err
			}
		case 'E':
			if err := h.end(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected scp message %q", string(kind)+line)
		}
		if err := ok(); err != nil {
			return err
		}
	}
}

// parseEntry parses the rest of a C or D message: "<mode> <size> <name>".
// The name must be one path element, so a source cannot write outside the
// destination.
func parseEntry(line string) (fs.FileMode, int64, string, error) {
	fields := strings.SplitN(line, " ", 3)
	if len(fields) != 3 {
		return 0, 0, "", fmt.Errorf("bad scp message %q", line)
	}
	m, err1 := strconv.ParseUint(fields[0], 8, 32)
	size, err2 := strconv.ParseInt(fields[1], 10, 64)
	name := fields[2]
	if err1 != nil || err2 != nil || size < 0 {
		return 0, 0, "", fmt.Errorf("bad scp message %q", line)
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return 0, 0, "", fmt.Errorf("scp sent an unsafe name %q", name)
	}
	return fileMode(uint32(m)), size, name, nil
}

func scpDownload(ctx context.Context, cn *conn, src string, dst io.Writer) error {
	s, err := startSCP(ctx, cn, "-f", src)
	if err != nil {
		return err
	}
	files := 0
	err = s.receive(scpSink{
		file: func(name string, _ fs.FileMode, _ time.Time, r io.Reader) error {
			if files++; files > 1 {
				return errors.New("scp sent more than one file")
			}
			_, err := io.Copy(dst, r)
			return err
		},
		dir: func(string, fs.FileMode) error { return fmt.Errorf("%s is a directory", src) },
		end: func() error { return errors.New("unexpected end of directory") },
	})
	if err != nil {
		return s.fail(err)
	}
	if err := s.finish(); err != nil {
		return err
	}
	if files == 0 {
		return errors.New("scp sent no file")
	}
	return nil
}

// scpDownloadDir copies the machine's directory src into dst. The machine
// controls the names it sends, and dst may hold links from an earlier
// download, so everything is written through a destdir.Dir: no link is
// followed out of dst, and setuid and setgid bits are dropped.
func scpDownloadDir(ctx context.Context, cn *conn, src, dst string) error {
	// top is where src's contents go, relative to dst ("" for dst).
	src, top := dirTarget(src, "", path.Join, path.Base)
	d, err := destdir.Open(dst)
	if err != nil {
		return err
	}
	defer d.Close()
	s, err := startSCP(ctx, cn, "-rfp", src)
	if err != nil {
		return err
	}
	var stack []string // the directories entered, relative to dst
	err = s.receive(scpSink{
		dir: func(name string, mode fs.FileMode) error {
			p := top // src itself
			if len(stack) > 0 {
				p = path.Join(stack[len(stack)-1], name)
			}
			if err := d.Mkdir(p, mode, time.Time{}); err != nil {
				return err
			}
			stack = append(stack, p)
			return nil
		},
		end: func() error {
			if len(stack) == 0 {
				return errors.New("unbalanced end of directory from scp")
			}
			stack = stack[:len(stack)-1]
			return nil
		},
		file: func(name string, mode fs.FileMode, mtime time.Time, r io.Reader) error {
			if len(stack) == 0 {
				return fmt.Errorf("%s is not a directory", src)
			}
			return d.WriteFile(path.Join(stack[len(stack)-1], name), mode, mtime, r)
		},
	})
	if err != nil {
		return s.fail(err)
	}
	if err := s.finish(); err != nil {
		return err
	}
	return d.Finish()
}

// unixMode converts fs.FileMode permission bits to the octal Unix form.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// fileMode is the inverse of unixMode.
func fileMode(u uint32) fs.FileMode {
	m := fs.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tailBuffer keeps the last max bytes written to it; it collects a remote
// command's stderr for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
