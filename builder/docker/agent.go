package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/bake-tool/bake/provisioners"
)

// The command session: one process per container runs a small sh script,
// the agent, that reads requests on its stdin and runs each command as a
// child of its own, so that a Run costs a write and a fork in the
// container instead of an exec (a runc exec: a process spawned by the
// engine, tens of milliseconds, more on a loaded host). In a build
// container whose commands run as the image's user the agent is part of
// the main process (mainAgentScript), whose streams bake attaches to
// before the container starts: no exec at all. Otherwise, and after that
// session ended, an exec runs it (startSession).
//
// A request is lines of text:
//
//	MARKER NCMD NSTDIN
//	NCMD lines: the command line, split at its newlines
//	NSTDIN lines: the command's stdin, printf formats (see encodeStdin); NSTDIN is -1 when the command has no stdin
//
// The agent runs the command as `/bin/sh -c EvalCommand` with the command
// line in CommandVar, as an exec does, so that the line is in no process's
// arguments and the command's shell is a process of its own ($$, exit,
// traps, exit codes as with an exec). Its stdin is /dev/null, or a pipe
// from a subshell that decodes the stdin lines. The agent's own stderr is
// /dev/null meanwhile (the command's is the agent's stderr, set in the
// subshell that execs the command's shell, not by a redirection of the
// agent), so that the agent does not report a command killed by a signal
// ("Killed"), which an exec's shell, killed itself, never does. When the
// command ends the agent writes "MARKER\n" to stderr and "MARKER
// STATUS\n" to stdout; the marker is random per command, so no output can
// fake the end. The agent's variables are in the __bake_ namespace of
// EvalCommand's: a container's environment could export a short name,
// which the agent's assignment would change for the commands.
//
// Only sh builtins are used (read, printf, [, trap, $(( ))); an image
// whose sh lacks them gives no ready line (the ready line is printf's: a
// shell without it has failed by then) and bake uses an exec per command
// there (see execComm.Run).

// agentStdinMax is the largest stdin sent through the session: the agent
// reads it a byte at a time (the read builtin cannot read ahead of a line
// on a pipe), which for a large stdin costs more than an exec.
const agentStdinMax = 64 << 10

// agentSignals are the signals that terminate a process by default and
// that the agent catches (a command's `kill 0` reaches the agent's process
// group): a caught signal, unlike an ignored one, is back to its default
// in the commands the agent starts.
const agentSignals = "HUP INT QUIT USR1 USR2 PIPE ALRM TERM"

// agentReady starts the line the agent writes to stdout once it runs.
const agentReady = "bake-agent-ready-"

// agentScript is the agent for the session tagged tag; see above. The tag
// line comes first, so that killScript finds the agent (and with its
// process group, the command and what it started). A command's shell
// gets the tag line first too, as in an exec: it shows the same in ps,
// and bash numbers the lines of its errors alike. bash counts itself in
// SHLVL: the agent takes itself out, so that a command sees the SHLVL an
// exec sees.
func agentScript(tag string) string {
	return execTagLine + tag + `
trap : ` + agentSignals + `
[ -z "${BASH_VERSION-}" ] || SHLVL=$((SHLVL - 1))
__bake_e='` + execTagLine + tag + `
` + provisioners.EvalCommand + `'
printf '%s 0\n' '` + agentReady + tag + `' || exit 97
while read -r __bake_m __bake_n __bake_k; do
	__bake_c= __bake_i=0
	while [ "$__bake_i" -lt "$__bake_n" ]; do
		IFS= read -r __bake_l || exit 98
		if [ "$__bake_i" -eq 0 ]; then __bake_c=$__bake_l; else __bake_c="$__bake_c
$__bake_l"; fi
		__bake_i=$((__bake_i + 1))
	done
	{
		if [ "$__bake_k" -lt 0 ]; then
			(export ` + provisioners.CommandVar + `="$__bake_c"; exec /bin/sh -c "$__bake_e" </dev/null 2>&3 3>&-)
		else
			{
				trap '' ` + agentSignals + `
				while [ "$__bake_k" -gt 0 ]; do
					IFS= read -r __bake_l || exit 98
					printf "$__bake_l"
					__bake_k=$((__bake_k - 1))
				done
			} | (export ` + provisioners.CommandVar + `="$__bake_c"; exec /bin/sh -c "$__bake_e" 2>&3 3>&-)
		fi
	} 3>&2 2>/dev/null
	__bake_r=$?
	printf '%s\n' "$__bake_m" >&2
	printf '%s %d\n' "$__bake_m" "$__bake_r"
done
`
}

// encodeStdin appends to buf data as printf format lines, each ending in
// a newline: printable ASCII stands for itself except "\" and "%" (and a
// "-" that starts a line, which printf could take for an option), every
// other byte is an octal escape. A line holds at most 512 bytes of data.
// It returns the number of lines.
func encodeStdin(buf *bytes.Buffer, data []byte) int {
	n := 0
	for len(data) > 0 {
		chunk := data[:min(len(data), 512)]
		data = data[len(chunk):]
		for i, b := range chunk {
			switch {
			case b == '\\':
				buf.WriteString(`\\`)
			case b == '%':
				buf.WriteString("%%")
			case b == '-' && i == 0:
				buf.WriteString(`\055`)
			case b >= 0x20 && b < 0x7f:
				buf.WriteByte(b)
			default:
				buf.WriteByte('\\')
				buf.WriteByte('0' + b>>6)
				buf.WriteByte('0' + b>>3&7)
				buf.WriteByte('0' + b&7)
			}
		}
		buf.WriteByte('\n')
		n++
	}
	return n
}

// encodeRequest is the request that runs command with stdin (nil: none)
// and ends with marker.
func encodeRequest(marker, command string, stdin []byte) []byte {
	var body bytes.Buffer
	lines := strings.Split(command, "\n")
	for _, l := range lines {
		body.WriteString(l)
		body.WriteByte('\n')
	}
	k := -1
	if stdin != nil {
		k = encodeStdin(&body, stdin)
	}
	head := fmt.Sprintf("%s %d %d\n", marker, len(lines), k)
	return append([]byte(head), body.Bytes()...)
}

// endParser finds the end of one command's output in the agent's stdout
// or stderr: the marker, then (stdout) " STATUS\n" or (stderr) "\n". What
// comes before the marker is the command's output.
type endParser struct {
	marker []byte
	status bool // a status follows the marker
	held   []byte
	found  bool   // the marker was seen
	tail   []byte // what followed the marker, up to the newline
	done   bool
	code   int
}

// maxTail bounds what may follow a marker before its newline.
const maxTail = 16

// feed takes the next bytes of the stream and returns those that are the
// command's output and can be passed on now; it holds back only a suffix
// that could start the marker. Once the end line is complete, done is set
// (and code, for stdout) and the rest of p is not the command's. A
// malformed end line is an error.
func (p *endParser) feed(b []byte) (out []byte, err error) {
	if p.done {
		return nil, nil
	}
	if !p.found {
		data := b
		if len(p.held) > 0 {
			data = append(p.held, b...)
			p.held = nil
		}
		i := bytes.Index(data, p.marker)
		if i < 0 {
			keep := partialSuffix(data, p.marker)
			p.held = append([]byte(nil), data[len(data)-keep:]...)
			return data[:len(data)-keep], nil
		}
		out, b = data[:i], data[i+len(p.marker):]
		p.found = true
	}
	j := bytes.IndexByte(b, '\n')
	if j < 0 {
		j = len(b)
	}
	p.tail = append(p.tail, b[:j]...)
	if len(p.tail) > maxTail {
		return out, fmt.Errorf("bad end line from the bake agent: %q", p.tail)
	}
	if j == len(b) {
		return out, nil
	}
	p.done = true
	if !p.status {
		if len(p.tail) != 0 {
			return out, fmt.Errorf("bad end line from the bake agent: %q", p.tail)
		}
		return out, nil
	}
	s, ok := bytes.CutPrefix(p.tail, []byte(" "))
	digits := len(s) > 0 && len(s) <= 3 && len(bytes.Trim(s, "0123456789")) == 0
	code, cerr := strconv.Atoi(string(s))
	if !ok || !digits || cerr != nil || code > 255 {
		return out, fmt.Errorf("bad end line from the bake agent: %q", p.tail)
	}
	p.code = code
	return out, nil
}

// partialSuffix is the length of the longest suffix of data that is a
// proper prefix of marker.
func partialSuffix(data, marker []byte) int {
	for n := min(len(data), len(marker)-1); n > 0; n-- {
		if bytes.HasSuffix(data, marker[:n]) {
			return n
		}
	}
	return 0
}

// endWriter is one of the session's two streams: it passes the running
// command's output to its writer until the end line, and drops what
// arrives while no command runs (output of a process a command left
// running).
type endWriter struct {
	mu     sync.Mutex
	p      *endParser
	dst    io.Writer
	ended  chan struct{}
	err    error // a malformed end line, or dst's error
	dstErr error
}

// expect makes the writer pass output to dst until marker's end line,
// and returns the channel closed then.
func (w *endWriter) expect(marker string, status bool, dst io.Writer) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if dst == nil {
		dst = io.Discard
	}
	w.p = &endParser{marker: []byte(marker), status: status}
	w.dst, w.err, w.dstErr = dst, nil, nil
	w.ended = make(chan struct{})
	return w.ended
}

// result returns the status and error of the last command once ended.
func (w *endWriter) result() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return -1, w.err
	}
	return w.p.code, w.dstErr
}

// release stops passing output to the writer of a command that is
// abandoned (its session is being killed).
func (w *endWriter) release() {
	w.mu.Lock()
	w.dst = io.Discard
	w.mu.Unlock()
}

func (w *endWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.p == nil || w.p.done || w.err != nil {
		return len(b), nil
	}
	out, err := w.p.feed(b)
	if len(out) > 0 && w.dstErr == nil {
		if _, werr := w.dst.Write(out); werr != nil {
			w.dstErr = fmt.Errorf("write the command's output: %w", werr)
		}
	}
	if err != nil {
		w.err = err
	}
	if w.p.done || err != nil {
		close(w.ended)
	}
	return len(b), nil
}

// session is a running agent.
type session struct {
	// execID is the agent's exec; "" for the agent that is the
	// container's main process (attachSession).
	execID string
	tag    string
	conn   types.HijackedResponse
	stdout endWriter
	stderr endWriter
	// ready is closed when the agent's ready line came.
	ready chan struct{}
	// ended is closed when the agent's output stream ended: the agent
	// exited, was killed, or its container stopped.
	ended chan struct{}
}

// newSession starts reading an agent's output from conn, watching for
// its ready line.
func newSession(execID, tag string, conn types.HijackedResponse) *session {
	s := &session{execID: execID, tag: tag, conn: conn, ended: make(chan struct{})}
	s.ready = s.stdout.expect(agentReady+tag, true, io.Discard)
	go s.read()
	return s
}

// read copies the agent's output stream to the two writers until it
// ends.
func (s *session) read() {
	defer close(s.ended)
	stdcopy.StdCopy(&s.stdout, &s.stderr, s.conn.Reader)
}

// close closes the connection: the agent, reading its end, exits.
func (s *session) close() {
	s.conn.Close()
}

// errNoAgent says that the container cannot run the agent: Run uses an
// exec per command there.
var errNoAgent = errors.New("the image's /bin/sh cannot run the bake agent")

// agentStartTimeout bounds the wait for the agent's ready line.
const agentStartTimeout = time.Minute

// startSession starts the agent as the exec user and waits for its ready
// line.
func (c *execComm) startSession(ctx context.Context) (*session, error) {
	tag := newExecTag()
	created, err := c.api.ContainerExecCreate(ctx, c.containerID, container.ExecOptions{
		User:         c.user,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		Cmd:          []string{"/bin/sh", "-c", agentScript(tag)},
	})
	if err != nil {
		return nil, c.execError("create exec", err)
	}
	resp, err := c.api.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, c.execError("start exec", err)
	}
	s := newSession(created.ID, tag, resp)
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// waitReady waits for the agent's ready line; errNoAgent when the agent
// ended or said nothing in time. The session is closed unless ready.
func (s *session) waitReady(ctx context.Context) error {
	timer := time.NewTimer(agentStartTimeout)
	defer timer.Stop()
	select {
	case <-s.ready:
		if code, err := s.stdout.result(); err != nil || code != 0 {
			s.close()
			return errNoAgent
		}
		return nil
	case <-s.ended:
		s.close()
		return errNoAgent
	case <-ctx.Done():
		s.close()
		return context.Cause(ctx)
	case <-timer.C:
		s.close()
		return errNoAgent
	}
}

// mainAgentScript is the main process of a build container that runs its
// session from the start (no exec needed): the agent in a subshell, so
// that however it ends the container goes on running, then the keep-alive
// loop. When the agent ends, a ready line with status 1 (echo, which no
// sh lacks) tells a waitReady that is still waiting that it failed. Its
// first line is the agent's tag line, as the agent's is, so that
// killScript knows it (and the subshell, a fork of it).
func mainAgentScript(tag string) string {
	return execTagLine + tag + "\n(\n" + agentScript(tag) + ")\necho '" + agentReady + tag + " 1'\nwhile :; do sleep 3600; done\n"
}

// attachSession attaches to the standard streams of container id,
// created but not started, whose main process is mainAgentScript(tag):
// once the container starts, waitReady says whether the agent runs.
func attachSession(ctx context.Context, api dockerAPI, id, tag string) (*session, error) {
	resp, err := api.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, err
	}
	return newSession("", tag, resp), nil
}

// agentInput returns the stdin to send through the session: nil for
// none; ok is false when the command cannot go through the session (a
// NUL in the command line, a stdin that is a stream or too large).
func agentInput(cmd *provisioners.Cmd) (stdin []byte, ok bool) {
	if strings.IndexByte(cmd.Command, 0) >= 0 {
		return nil, false
	}
	if cmd.Stdin == nil {
		return nil, true
	}
	sized, isSized := cmd.Stdin.(interface{ Len() int })
	if !isSized || sized.Len() > agentStdinMax {
		return nil, false
	}
	data, err := io.ReadAll(cmd.Stdin)
	if err != nil || len(data) > agentStdinMax {
		// Given back to the exec path whole.
		cmd.Stdin = io.MultiReader(bytes.NewReader(data), cmd.Stdin)
		return nil, false
	}
	if data == nil {
		data = []byte{}
	}
	return data, true
}

// runSession runs cmd through the session s, whose lock the caller
// holds. keep is false when the session is over (its agent ended or was
// killed) and must not be used again.
func (c *execComm) runSession(ctx context.Context, s *session, cmd *provisioners.Cmd, stdin []byte) (code int, keep bool, err error) {
	marker := "bake-end-" + newExecTag()
	outEnded := s.stdout.expect(marker, true, cmd.Stdout)
	errEnded := s.stderr.expect(marker, false, cmd.Stderr)
	req := encodeRequest(marker, cmd.Command, stdin)
	wrote := make(chan error, 1)
	go func() {
		_, err := s.conn.Conn.Write(req)
		wrote <- err
	}()
	for outEnded != nil || errEnded != nil {
		select {
		case <-outEnded:
			outEnded = nil
		case <-errEnded:
			errEnded = nil
		case <-s.ended:
			if outEnded == nil {
				// The status came; the stream ended before stderr's
				// end line.
				code, err := s.stdout.result()
				return code, false, err
			}
			code, err := c.sessionLost(ctx, s)
			return code, false, err
		case <-ctx.Done():
			s.stdout.release()
			s.stderr.release()
			c.stop(ctx, s.execID, s.tag)
			s.close()
			<-s.ended
			return -1, false, fmt.Errorf("run command in container %s: %w", short(c.containerID), context.Cause(ctx))
		}
	}
	if err := <-wrote; err != nil {
		return -1, false, fmt.Errorf("run command in container %s: write to the bake agent: %w", short(c.containerID), err)
	}
	code, err = s.stdout.result()
	if err == nil {
		_, err = s.stderr.result()
	}
	if err != nil {
		s.close()
		return -1, false, fmt.Errorf("run command in container %s: %w", short(c.containerID), err)
	}
	return code, true, nil
}

// sessionLost tells why the agent's stream ended while a command ran: the
// container stopped or is gone (ErrDisconnected), or the agent itself was
// killed, by the command (kill -9 0) or the kernel, in a container that
// still runs: then, as for an exec's shell killed so, the signal's exit
// status.
func (c *execComm) sessionLost(ctx context.Context, s *session) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if s.execID == "" {
		// The container's main process: its output ends only with the
		// container.
		if err := c.stopped(ctx); err != nil {
			return -1, err
		}
		return -1, fmt.Errorf("run command in container %s: the bake agent's output ended", short(c.containerID))
	}
	code := -1
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		insp, err := c.api.ContainerExecInspect(ctx, s.execID)
		if err != nil {
			return -1, c.execError("inspect exec", err)
		}
		if !insp.Running {
			code = insp.ExitCode
			break
		}
		select {
		case <-ctx.Done():
			return -1, c.execError("inspect exec", context.Cause(ctx))
		case <-time.After(delay):
		}
	}
	if err := c.stopped(ctx); err != nil {
		return -1, err
	}
	if code <= 128 {
		return -1, fmt.Errorf("run command in container %s: the bake agent exited with status %d", short(c.containerID), code)
	}
	return code, nil
}

// stoppedGrace is how long, after a command's shell was killed by
// SIGKILL, Run waits for the engine to report the container stopped: a
// container that stops kills its processes so, a moment before the
// engine records its state.
const stoppedGrace = 2 * time.Second

// stopped returns an error wrapping ErrDisconnected when the container
// stopped or is gone, or stops within stoppedGrace.
func (c *execComm) stopped(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stoppedGrace)
	defer cancel()
	waited, errs := c.api.ContainerWait(ctx, c.containerID, container.WaitConditionNotRunning)
	var err error
	select {
	case <-waited:
		err = errors.New("the container stopped")
	case err = <-errs:
		if !cerrdefs.IsNotFound(err) {
			return nil // running, as far as the engine says within the grace
		}
	}
	return fmt.Errorf("run command in container %s: %w: %w", short(c.containerID), provisioners.ErrDisconnected, err)
}

// idleScript prints the processes of the container other than its main
// process, the keep-alive loop's sleep, this command's shell ($$) and
// the session's agent (its parent). It goes by process IDs, not by the
// tag in their command lines: a command's background job is a fork of
// its shell and carries the tag too, and between the programs it runs
// it would pass for bake's own. Only builtins: read drops the NULs of a
// cmdline.
func idleScript() string {
	return `for d in /proc/[0-9]*; do
p=${d#/proc/}
case $p in 1|$$|$PPID) continue;; esac
l=
read -r l 2>/dev/null < "$d/cmdline"
if [ "$l" = sleep3600 ]; then
	pp=
	read -r _ _ _ pp _ 2>/dev/null < "$d/stat"
	[ "$pp" = 1 ] && continue
fi
echo "$p"
done`
}

// idle reports whether nothing but bake's own processes runs in the
// container, asked through the running session (an exec to ask would
// cost more than what the answer saves): then a commit need not pause
// the container (freezing and thawing its cgroup, about 70 ms of a
// commit's 200 on this host), as no process can change the files
// while they are read. Any doubt (no session, a session user other than
// root, who may not see every process, an unreadable process, an error)
// is "not idle", and the commit pauses as before.
func (c *execComm) idle(ctx context.Context) bool {
	if c == nil || !c.sessMu.TryLock() {
		return false
	}
	defer c.sessMu.Unlock()
	if c.sess == nil || c.noAgent || c.closed {
		return false
	}
	user := c.user
	if user == "" {
		user = c.imageUser
	}
	if uid, _, ok := knownOwner(user); !ok || uid != 0 {
		// Another user may not see every process (hidepid).
		return false
	}
	select {
	case <-c.sess.ended:
		return false
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	code, ran, err := c.runInSession(ctx, &provisioners.Cmd{Command: idleScript(), Stdout: &out})
	return ran && err == nil && code == 0 && out.Len() == 0
}
