package sshproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/bake-tool/bake/provisioners"
)

// sftp serves the sftp subsystem on ch until the client ends it.
func (s *Server) sftp(ch gossh.Channel) {
	h := &handlers{ctx: s.ctx, comm: s.comm}
	// The server closes what it is given when the client is done; the
	// channel stays open for the exit status the session sends after.
	rw := struct {
		io.Reader
		io.Writer
		io.Closer
	}{ch, ch, io.NopCloser(nil)}
	srv := sftp.NewRequestServer(rw, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
	srv.Serve()
	srv.Close()
}

// handlers map sftp requests onto a Communicator: reads and writes onto
// Download and Upload (whole files, buffered), the rest onto small
// commands run on the machine.
type handlers struct {
	ctx  context.Context
	comm provisioners.Communicator
	// open are the files being written, by path: a setstat on one of
	// them (scp sets the mode and size before it writes) applies to what
	// will be uploaded, since the file is not on the machine yet.
	mu   sync.Mutex
	open map[string]*upload
}

// quote is p as one single-quoted shell word.
func quote(p string) string { return "'" + strings.ReplaceAll(p, `'`, `'"'"'`) + "'" }

// run runs command on the machine; a non-zero status is os.ErrNotExist
// when the output says so, else an error carrying the output.
func (h *handlers) run(command string) (string, error) {
	var out, errOut bytes.Buffer
	status, err := h.comm.Run(h.ctx, &provisioners.Cmd{Command: command, Stdout: &out, Stderr: &errOut})
	if err != nil {
		return "", err
	}
	if status != 0 {
		msg := strings.TrimSpace(errOut.String())
		if strings.Contains(msg, "No such file") {
			return "", os.ErrNotExist
		}
		return "", fmt.Errorf("exit status %d: %s", status, msg)
	}
	return out.String(), nil
}

func (h *handlers) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	var buf bytes.Buffer
	if err := h.comm.Download(h.ctx, r.Filepath, &buf); err != nil {
		if _, serr := h.stat(r.Filepath, true); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	return bytes.NewReader(buf.Bytes()), nil
}

func (h *handlers) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	mode := fs.FileMode(0o644)
	if r.AttrFlags().Permissions {
		if m := fs.FileMode(r.Attributes().Mode).Perm(); m != 0 {
			mode = m
		}
	}
	u := &upload{h: h, path: r.Filepath, mode: mode}
	h.mu.Lock()
	if h.open == nil {
		h.open = map[string]*upload{}
	}
	h.open[r.Filepath] = u
	h.mu.Unlock()
	return u, nil
}

// pending returns the file being written at p, if any.
func (h *handlers) pending(p string) *upload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open[p]
}

// upload collects a file written over sftp and uploads it on Close.
type upload struct {
	h    *handlers
	path string
	mode fs.FileMode
	mu   sync.Mutex
	buf  []byte
	err  error
}

func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(u.buf)) {
		if end > 1<<31 {
			return 0, fmt.Errorf("file too large for the proxy")
		}
		u.buf = append(u.buf, make([]byte, int(end)-len(u.buf))...)
	}
	copy(u.buf[off:], p)
	return len(p), nil
}

// setstat applies a setstat request's mode and size to the file before
// it is uploaded.
func (u *upload) setstat(r *sftp.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	a, flags := r.Attributes(), r.AttrFlags()
	if flags.Permissions {
		u.mode = fs.FileMode(a.Mode).Perm()
	}
	if flags.Size && a.Size < 1<<31 {
		if n := int(a.Size); n < len(u.buf) {
			u.buf = u.buf[:n]
		} else {
			u.buf = append(u.buf, make([]byte, n-len(u.buf))...)
		}
	}
}

func (u *upload) TransferError(err error) {
	u.mu.Lock()
	u.err = err
	u.mu.Unlock()
}

func (u *upload) Close() error {
	u.h.mu.Lock()
	if u.h.open[u.path] == u {
		delete(u.h.open, u.path)
	}
	u.h.mu.Unlock()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return u.err
	}
	return u.h.comm.Upload(u.h.ctx, u.path, bytes.NewReader(u.buf), u.mode)
}

func (h *handlers) Filecmd(r *sftp.Request) error {
	var err error
	switch r.Method {
	case "Setstat":
		if u := h.pending(r.Filepath); u != nil {
			u.setstat(r)
			return nil
		}
		if r.AttrFlags().Permissions {
			_, err = h.run(fmt.Sprintf("chmod %o %s", fs.FileMode(r.Attributes().Mode).Perm(), quote(r.Filepath)))
		}
	case "Rename", "PosixRename":
		_, err = h.run("mv -f -- " + quote(r.Filepath) + " " + quote(r.Target))
	case "Rmdir":
		_, err = h.run("rmdir -- " + quote(r.Filepath))
	case "Remove":
		_, err = h.run("rm -- " + quote(r.Filepath))
	case "Mkdir":
		_, err = h.run("mkdir -- " + quote(r.Filepath))
	case "Symlink":
		_, err = h.run("ln -s -- " + quote(r.Filepath) + " " + quote(r.Target))
	case "Link":
		_, err = h.run("ln -- " + quote(r.Filepath) + " " + quote(r.Target))
	default:
		return sftp.ErrSSHFxOpUnsupported
	}
	return err
}

func (h *handlers) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	switch r.Method {
	case "Stat":
		fi, err := h.stat(r.Filepath, true)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	case "List":
		out, err := h.run("find " + quote(r.Filepath) + " -mindepth 1 -maxdepth 1 -printf '%m|%s|%T@|%y|%f\\n'")
		if err != nil {
			return nil, err
		}
		var list listerAt
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if fi, ok := parseFind(line); ok {
				list = append(list, fi)
			}
		}
		return list, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

// Lstat is Stat without following a final symbolic link.
func (h *handlers) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	fi, err := h.stat(r.Filepath, false)
	if err != nil {
		return nil, err
	}
	return listerAt{fi}, nil
}

func (h *handlers) stat(p string, follow bool) (fs.FileInfo, error) {
	flag := ""
	if follow {
		flag = "-L "
	}
	out, err := h.run("stat " + flag + "-c '%a|%s|%Y|%F' -- " + quote(p))
	if err != nil {
		return nil, err
	}
	f := strings.SplitN(strings.TrimSpace(out), "|", 4)
	if len(f) != 4 {
		return nil, fmt.Errorf("stat %s: unexpected output", p)
	}
	perm, _ := strconv.ParseUint(f[0], 8, 32)
	size, _ := strconv.ParseInt(f[1], 10, 64)
	mtime, _ := strconv.ParseInt(f[2], 10, 64)
	mode := fs.FileMode(perm) & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	switch f[3] {
	case "directory":
		mode |= fs.ModeDir
	case "symbolic link":
		mode |= fs.ModeSymlink
	}
	return &fileInfo{name: path.Base(p), size: size, mode: mode, mtime: time.Unix(mtime, 0)}, nil
}

// parseFind reads one line of find -printf '%m|%s|%T@|%y|%f'.
func parseFind(line string) (fs.FileInfo, bool) {
	f := strings.SplitN(line, "|", 5)
	if len(f) != 5 {
		return nil, false
	}
	perm, _ := strconv.ParseUint(f[0], 8, 32)
	size, _ := strconv.ParseInt(f[1], 10, 64)
	secs, _ := strconv.ParseFloat(f[2], 64)
	mode := fs.FileMode(perm) & fs.ModePerm
	switch f[3] {
	case "d":
		mode |= fs.ModeDir
	case "l":
		mode |= fs.ModeSymlink
	}
	return &fileInfo{name: f[4], size: size, mode: mode, mtime: time.Unix(int64(secs), 0)}, true
}

type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (f *fileInfo) Name() string       { return f.name }
func (f *fileInfo) Size() int64        { return f.size }
func (f *fileInfo) Mode() fs.FileMode  { return f.mode }
func (f *fileInfo) ModTime() time.Time { return f.mtime }
func (f *fileInfo) IsDir() bool        { return f.mode.IsDir() }
func (f *fileInfo) Sys() any           { return nil }

type listerAt []fs.FileInfo

func (l listerAt) ListAt(dst []fs.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if off+int64(n) >= int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}
