package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/bake-tool/bake/internal/spool"
	"github.com/bake-tool/bake/provisioners"
)

// execComm is the docker communicator: commands run through the engine's
// exec API, files move as tar streams through its archive API. Nothing
// runs the docker CLI.
type execComm struct {
	api         dockerAPI
	containerID string
	// user is exec_user: commands run as this user, and with fixOwner
	// uploads are owned by it.
	user     string
	fixOwner bool
	// imageUser is the image's USER, whom commands run as when user is
	// empty.
	imageUser string
	// workdir is the container's working directory, against which
	// relative paths resolve.
	workdir string

	ownerMu    sync.Mutex
	ownerKnown bool
	uid, gid   int

	// sessMu is held by the Run that uses the session; a Run that finds
	// it held runs its command in an exec of its own.
	sessMu sync.Mutex
	sess   *session
	// noAgent is set once the container could not run the agent, and
	// closed once Close was called: Run then uses an exec per command.
	noAgent, closed bool
}

var _ provisioners.Communicator = (*execComm)(nil)

// Run runs cmd.Command with /bin/sh -c as the exec user, streaming its
// output (stdout and stderr apart) as the engine delivers it, and returns
// the command's exit code.
//
// The command runs in the container's command session (agent.go): one
// exec for all the communicator's commands, each a child of the agent.
// It runs in an exec of its own, as before the session existed, when the
// session is busy with another Run, when the container's sh cannot run
// the agent, or when the command's stdin is a stream or larger than
// agentStdinMax; an exec's exit code is what exec inspect reports.
//
// The command line reaches the shell in the exec's environment (see
// provisioners.EvalCommand), not in its arguments: with a local engine
// the container's processes are this host's, and their arguments are
// visible to every user. Errors do not repeat the command.
//
// When ctx ends, the command and its process group are killed in the
// container before Run returns (see stop), so that nothing a cancelled
// or timed-out command does afterwards lands in the image.
func (c *execComm) Run(ctx context.Context, cmd *provisioners.Cmd) (int, error) {
	own := *cmd // the session path may put a stdin it read back
	cmd = &own
	if c.sessMu.TryLock() {
		code, ran, err := c.runInSession(ctx, cmd)
		c.sessMu.Unlock()
		if ran {
			return code, err
		}
	}
	return c.runExec(ctx, cmd)
}

// runInSession runs cmd in the session, started if need be, and reports
// whether it did; the caller holds sessMu. When it did not, cmd (its
// stdin put back whole) is the exec path's to run.
func (c *execComm) runInSession(ctx context.Context, cmd *provisioners.Cmd) (code int, ran bool, err error) {
	if c.noAgent || c.closed {
		return 0, false, nil
	}
	stdin, ok := agentInput(cmd)
	if !ok {
		return 0, false, nil
	}
	if c.sess != nil {
		select {
		case <-c.sess.ended:
			c.sess.close()
			c.sess = nil
		default:
		}
	}
	if c.sess == nil {
		s, err := c.startSession(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return -1, true, fmt.Errorf("run command in container %s: %w", short(c.containerID), context.Cause(ctx))
			}
			if errors.Is(err, errNoAgent) {
				c.noAgent = true
			}
			if stdin != nil {
				cmd.Stdin = bytes.NewReader(stdin)
			}
			return 0, false, nil
		}
		c.sess = s
	}
	code, keep, err := c.runSession(ctx, c.sess, cmd, stdin)
	if !keep {
		c.sess.close()
		c.sess = nil
	}
	return code, true, err
}

// runExec runs cmd in an exec of its own.
func (c *execComm) runExec(ctx context.Context, cmd *provisioners.Cmd) (int, error) {
	tag := newExecTag()
	created, err := c.api.ContainerExecCreate(ctx, c.containerID, container.ExecOptions{
		User:         c.user,
		AttachStdin:  cmd.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Env:          []string{provisioners.CommandVar + "=" + cmd.Command},
		Cmd:          []string{"/bin/sh", "-c", execTagLine + tag + "\n" + provisioners.EvalCommand},
	})
	if err != nil {
		return -1, c.execError("create exec", err)
	}
	code, err := c.attach(ctx, created.ID, cmd)
	if ctx.Err() != nil {
		// The exec may have started even when attach did not return.
		c.stop(ctx, created.ID, tag)
		return -1, fmt.Errorf("run command in container %s: %w", short(c.containerID), context.Cause(ctx))
	}
	return code, err
}

// attach starts the exec, copies its streams and returns its exit code.
func (c *execComm) attach(ctx context.Context, execID string, cmd *provisioners.Cmd) (int, error) {
	resp, err := c.api.ContainerExecAttach(ctx, execID, container.ExecAttachOptions{})
	if err != nil {
		return -1, c.execError("start exec", err)
	}
	defer resp.Close()
	// The hijacked connection does not watch ctx: close it on cancel.
	stop := context.AfterFunc(ctx, func() { resp.Conn.Close() })
	defer stop()

	if cmd.Stdin != nil {
		go func() {
			io.Copy(resp.Conn, cmd.Stdin)
			resp.CloseWrite()
		}()
	}
	stdout, stderr := cmd.Stdout, cmd.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if _, err := stdcopy.StdCopy(stdout, stderr, resp.Reader); err != nil {
		if ctx.Err() != nil {
			return -1, context.Cause(ctx)
		}
		return -1, fmt.Errorf("run command in container %s: %w: %w", short(c.containerID), provisioners.ErrDisconnected, err)
	}
	// The output ends when the process exits; the engine may record the
	// exit code a moment later.
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		insp, err := c.api.ContainerExecInspect(ctx, execID)
		if err != nil {
			return -1, c.execError("inspect exec", err)
		}
		if !insp.Running {
			if insp.ExitCode == 128+9 {
				// Killed by SIGKILL, as a stopping container kills
				// its processes.
				if err := c.stopped(ctx); err != nil {
					return -1, err
				}
			}
			return insp.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, context.Cause(ctx)
		case <-time.After(delay):
		}
	}
}

// execTagLine starts the first line of every Run's shell script, followed
// by the Run's tag: a comment for the shell, and what stop looks for in
// /proc/PID/cmdline.
const execTagLine = "# bake exec "

// newExecTag returns a random tag for one Run.
func newExecTag() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// killScript kills the shell of the Run tagged tag and its process group.
// The engine makes each exec's process a session leader, and a
// non-interactive shell keeps what it starts (background jobs included) in
// its group, so the group is the command and all it started unless a
// process left it on purpose. Only sh builtins and /proc are used, so any
// image that can run a command can run this. A shell reads the first line
// of the NUL-separated cmdline: "/bin/sh-c# bake exec TAG". The pattern is
// split so that this script's own command line does not match it.
func killScript(tag string) string {
	return `for d in /proc/[0-9]*; do
p=${d#/proc/}
[ "$p" = "$$" ] && continue
l=
read -r l 2>/dev/null < "$d/cmdline"
case $l in *"` + execTagLine + `"` + tag + `) kill -s KILL -- "-$p" 2>/dev/null || kill -s KILL "$p" 2>/dev/null;; esac
done
true`
}

// stopTimeout bounds stopping a cancelled command.
const stopTimeout = 30 * time.Second

// stop kills the command of the exec execID, whose shell carries tag, and
// waits until the engine reports it ended. The Engine API cannot kill an
// exec, so a second exec, as root, does (killScript); this works against
// a remote engine too. It runs on a context that outlives ctx, bounded by
// stopTimeout; a failure is logged, as the build is failing anyway.
//
// With execID "", the command is the main process's session's
// (mainAgentScript), whose commands share the main process's group. The
// main process is pid 1 in the container, so killScript's `kill -- -1`
// for it means every process the killer may signal: inside the container
// every process but pid 1, which the kernel shields from its own
// namespace. One pass does it.
func (c *execComm) stop(ctx context.Context, execID, tag string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	for {
		if execID != "" {
			insp, err := c.api.ContainerExecInspect(ctx, execID)
			if err != nil || !insp.Running {
				// Ended, never started, or gone with the container.
				return
			}
		}
		killer, err := c.api.ContainerExecCreate(ctx, c.containerID, container.ExecOptions{
			User: "0", AttachStdout: true, AttachStderr: true,
			Cmd: []string{"/bin/sh", "-c", killScript(tag)},
		})
		if err == nil {
			_, err = c.attach(ctx, killer.ID, &provisioners.Cmd{})
		}
		if errors.Is(err, provisioners.ErrDisconnected) {
			return // the container is gone or stopped: so is the command
		}
		if execID == "" && err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// execError wraps an exec API error; a container that is gone or stopped
// is reported as a lost connection.
func (c *execComm) execError(what string, err error) error {
	if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
		return fmt.Errorf("%s in container %s: %w: %w", what, short(c.containerID), provisioners.ErrDisconnected, err)
	}
	return fmt.Errorf("%s in container %s: %w", what, short(c.containerID), err)
}

// owner returns the uid and gid uploads get: the exec user's, resolved
// once in the container, or -1 when uploads keep the engine's default
// (root) because fix_upload_owner is off.
func (c *execComm) owner(ctx context.Context) (uid, gid int, err error) {
	if !c.fixOwner {
		return -1, -1, nil
	}
	c.ownerMu.Lock()
	defer c.ownerMu.Unlock()
	if c.ownerKnown {
		return c.uid, c.gid, nil
	}
	user := c.user
	if user == "" {
		user = c.imageUser
	}
	if uid, gid, ok := knownOwner(user); ok {
		c.uid, c.gid, c.ownerKnown = uid, gid, true
		return uid, gid, nil
	}
	var out, errOut strings.Builder
	code, err := c.Run(ctx, &provisioners.Cmd{Command: "id -u; id -g", Stdout: &out, Stderr: &errOut})
	if err != nil {
		return 0, 0, fmt.Errorf("find the uid of exec_user %q: %w", c.user, err)
	}
	fields := strings.Fields(out.String())
	if code != 0 || len(fields) != 2 {
		return 0, 0, fmt.Errorf("find the uid of exec_user %q: `id -u; id -g` exited %d: %s", c.user, code, strings.TrimSpace(errOut.String()+out.String()))
	}
	if c.uid, err = strconv.Atoi(fields[0]); err != nil {
		return 0, 0, fmt.Errorf("find the uid of exec_user %q: %w", c.user, err)
	}
	if c.gid, err = strconv.Atoi(fields[1]); err != nil {
		return 0, 0, fmt.Errorf("find the gid of exec_user %q: %w", c.user, err)
	}
	c.ownerKnown = true
	return c.uid, c.gid, nil
}

// knownOwner returns the uid and gid of user when they can be told
// without asking the container: root, or numeric "uid:gid".
func knownOwner(user string) (uid, gid int, ok bool) {
	switch user {
	case "", "root", "0", "root:root", "0:0":
		return 0, 0, true
	}
	u, g, found := strings.Cut(user, ":")
	if !found {
		return 0, 0, false
	}
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	return uid, gid, err1 == nil && err2 == nil
}

// copyIn sends the tar stream that write produces to the container,
// extracting it at "/" so that the entries' paths are absolute in the
// container: missing parent directories are made by the engine and
// existing ones are left as they are.
func (c *execComm) copyIn(ctx context.Context, write func(tw *tar.Writer) error) error {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := write(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	err := c.api.CopyToContainer(ctx, c.containerID, "/", pr, container.CopyToContainerOptions{CopyUIDGID: c.fixOwner})
	pr.CloseWithError(errors.New("copy ended"))
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// header fills in a tar header's owner for the container.
func header(name string, mode int64, size int64, uid, gid int) *tar.Header {
	h := &tar.Header{Name: name, Mode: mode, Size: size, ModTime: time.Now(), Format: tar.FormatPAX}
	if uid >= 0 {
		h.Uid, h.Gid = uid, gid
	}
	return h
}

// mkdir creates dir (and its parents) unless it exists, owned by the
// upload owner.
func (c *execComm) mkdir(ctx context.Context, dir string) error {
	dir = containerPath(c.workdir, dir)
	user := c.user
	if user == "" {
		user = c.imageUser
	}
	if uid, _, ok := knownOwner(user); ok && uid == 0 {
		// As root, a command in the session makes it: the archive
		// API's copy costs as much as an exec, and the session is
		// about to start for the provisioners anyway. The same mode as
		// the tar entry below; an image without mkdir gets the tar.
		q := "'" + strings.ReplaceAll(dir, "'", `'"'"'`) + "'"
		code, err := c.Run(ctx, &provisioners.Cmd{Command: "[ -d " + q + " ] || { umask 022 && mkdir -p -- " + q + "; }"})
		if err == nil && code == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	if _, err := c.api.ContainerStatPath(ctx, c.containerID, dir); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	return c.copyIn(ctx, func(tw *tar.Writer) error {
		h := header(strings.TrimPrefix(dir, "/")+"/", 0o755, 0, -1, -1)
		h.Typeflag = tar.TypeDir
		return tw.WriteHeader(h)
	})
}

// Upload writes src to the file dst in the container.
func (c *execComm) Upload(ctx context.Context, dst string, src io.Reader, mode fs.FileMode) error {
	dst = containerPath(c.workdir, dst)
	if mode == 0 {
		mode = 0o644
	}
	uid, gid, err := c.owner(ctx)
	if err != nil {
		return err
	}
	src, size, cleanup, err := spool.Sized(src)
	if err != nil {
		return fmt.Errorf("upload %s: %w", dst, err)
	}
	defer cleanup()
	err = c.copyIn(ctx, func(tw *tar.Writer) error {
		h := header(strings.TrimPrefix(dst, "/"), int64(mode.Perm()), size, uid, gid)
		h.Typeflag = tar.TypeReg
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		n, err := io.Copy(tw, src)
		if err == nil && n != size {
			err = fmt.Errorf("source gave %d bytes, expected %d", n, size)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("upload %s: %w", dst, err)
	}
	return nil
}

// UploadDir copies the local directory src into the container: its
// contents into dst when src ends in "/", else the directory itself into
// dst.
func (c *execComm) UploadDir(ctx context.Context, dst, src string) error {
	dst = containerPath(c.workdir, dst)
	target := dst
	if !strings.HasSuffix(src, "/") && !strings.HasSuffix(src, string(filepath.Separator)) {
		target = path.Join(dst, filepath.Base(src))
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("upload directory %s: %w", src, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("upload directory %s: not a directory", src)
	}
	uid, gid, err := c.owner(ctx)
	if err != nil {
		return err
	}
	// The target directory's own entry is sent only when it is new, so
	// that an existing directory (/usr/local, /tmp) keeps its mode and
	// owner.
	_, statErr := c.api.ContainerStatPath(ctx, c.containerID, target)
	if statErr != nil && !cerrdefs.IsNotFound(statErr) {
		return fmt.Errorf("upload directory %s: stat %s: %w", src, target, statErr)
	}
	includeRoot := statErr != nil
	prefix := strings.TrimPrefix(target, "/")
	err = c.copyIn(ctx, func(tw *tar.Writer) error {
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
			if rel == "." && !includeRoot {
				return nil
			}
			name := path.Join(prefix, filepath.ToSlash(rel))
			return writeEntry(tw, p, name, d, uid, gid)
		})
	})
	if err != nil {
		return fmt.Errorf("upload directory %s to %s: %w", src, target, err)
	}
	return nil
}

// writeEntry writes the local file p to tw as name.
func writeEntry(tw *tar.Writer, p, name string, d fs.DirEntry, uid, gid int) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = name
	h.Uname, h.Gname = "", ""
	h.Uid, h.Gid = 0, 0
	if uid >= 0 {
		h.Uid, h.Gid = uid, gid
	}
	h.Format = tar.FormatPAX
	switch h.Typeflag {
	case tar.TypeDir:
		h.Name += "/"
		return tw.WriteHeader(h)
	case tar.TypeSymlink:
		return tw.WriteHeader(h)
	case tar.TypeReg:
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, h.Size)
		return err
	default:
		return nil // sockets, devices, fifos are not uploaded
	}
}

// Download writes the container's file src to dst.
func (c *execComm) Download(ctx context.Context, src string, dst io.Writer) error {
	src = containerPath(c.workdir, src)
	for range 8 { // follow a few symbolic links
		rc, stat, err := c.api.CopyFromContainer(ctx, c.containerID, src)
		if err != nil {
			return fmt.Errorf("download %s: %w", src, err)
		}
		if stat.Mode.IsDir() {
			rc.Close()
			return fmt.Errorf("download %s: is a directory", src)
		}
		if stat.Mode&os.ModeSymlink != 0 && stat.LinkTarget != "" {
			rc.Close()
			src = containerPath(path.Dir(src), stat.LinkTarget)
			continue
		}
		err = func() error {
			defer rc.Close()
			tr := tar.NewReader(rc)
			h, err := tr.Next()
			if err != nil {
				return err
			}
			if h.Typeflag != tar.TypeReg {
				return fmt.Errorf("not a regular file")
			}
			_, err = io.Copy(dst, tr)
			return err
		}()
		if err != nil {
			if ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			return fmt.Errorf("download %s: %w", src, err)
		}
		return nil
	}
	return fmt.Errorf("download %s: too many symbolic links", src)
}

// DownloadDir copies the container's directory src to the local dst: its
// contents into dst when src ends in "/", else the directory itself into
// dst.
func (c *execComm) DownloadDir(ctx context.Context, src, dst string) error {
	contents := strings.HasSuffix(src, "/")
	src = containerPath(c.workdir, src)
	rc, stat, err := c.api.CopyFromContainer(ctx, c.containerID, src)
	if err != nil {
		return fmt.Errorf("download directory %s: %w", src, err)
	}
	defer rc.Close()
	if !stat.Mode.IsDir() {
		return fmt.Errorf("download directory %s: not a directory", src)
	}
	if err := untar(ctx, tar.NewReader(rc), dst, contents); err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return fmt.Errorf("download directory %s to %s: %w", src, dst, err)
	}
	return nil
}

// Close ends the command session: the agent exits when its stdin closes.
// Other calls open and close their own connections. It is idempotent.
func (c *execComm) Close() error {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	c.closed = true
	if c.sess != nil {
		c.sess.close()
		c.sess = nil
	}
	return nil
}
