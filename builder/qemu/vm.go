package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// vm is a running qemu process.
type vm struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been reaped
	waitErr error         // set before exited is closed
	output  *tail         // qemu's own stdout and stderr
	qmp     string        // the QMP socket
}

// stopGrace is how long a forced stop waits after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// startVM starts qemu and waits until its QMP monitor answers, which
// happens once the machine and its backends (the port forwarding among
// them) are set up; an exit before that is an error carrying qemu's
// stderr. The process gets its own process group, so a Ctrl-C at the
// terminal reaches bake, which then stops it, and it is killed if bake
// dies.
func startVM(ctx context.Context, binary string, argv []string, qmp string) (*vm, error) {
	cmd := exec.CommandContext(ctx, binary, argv...)
	out := &tail{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("start qemu: %s not found (qemu_binary; Debian's package is qemu-system-x86): %w", binary, err)
		}
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	v := &vm{cmd: cmd, exited: make(chan struct{}), output: out, qmp: qmp}
	go func() {
		v.waitErr = cmd.Wait()
		close(v.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if v.hasExited() {
			return v, v.exitError("qemu exited at start")
		}
		err := qmpExecute(ctx, qmp, "")
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return v, fmt.Errorf("start qemu: %w", ctx.Err())
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("qemu's monitor did not answer within a minute: %w", err)
		}
		select {
		case <-v.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// hasExited reports whether qemu has exited.
func (v *vm) hasExited() bool {
	select {
	case <-v.exited:
		return true
	default:
		return false
	}
}

// exitError describes qemu's exit, with the tail of its output.
func (v *vm) exitError(what string) error {
	msg := strings.TrimSpace(v.output.String())
	if msg == "" {
		msg = "(no output)"
	}
	return fmt.Errorf("%s: %v: %s", what, v.waitErr, msg)
}

// wait waits for qemu to exit, up to timeout; it reports whether it did.
func (v *vm) wait(ctx context.Context, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-v.exited:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return v.hasExited()
	}
}

// stop ends qemu by force: SIGTERM, then SIGKILL after stopGrace (or at
// once when ctx ends), and waits until it is reaped.
func (v *vm) stop(ctx context.Context) {
	if v == nil || v.hasExited() {
		return
	}
	v.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-v.exited:
		return
	case <-t.C:
	case <-ctx.Done():
	}
	v.cmd.Process.Kill()
	<-v.exited
}

// qmpExecute connects to the QMP socket, negotiates capabilities and, when
// command is not "", executes it and waits for its return.
func qmpExecute(ctx context.Context, path, command string) error {
	q, err := dialQMP(ctx, path)
	if err != nil {
		return err
	}
	defer q.Close()
	if command == "" {
		return nil
	}
	return q.execute(ctx, command, nil)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\r`)

// consoleTail returns the last n lines of the guest's serial console log,
// without terminal escapes, or a note saying why there are none.
func consoleTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no console log: " + err.Error() + ")"
	}
	defer f.Close()
	const window = 32 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		f.Seek(fi.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	s := strings.TrimRight(ansi.ReplaceAllString(string(b), ""), "\n ")
	if s == "" {
		return "(the guest wrote nothing to its serial console)"
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
