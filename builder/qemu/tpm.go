package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// swtpmGrace is how long swtpm gets between SIGTERM and SIGKILL.
const swtpmGrace = 5 * time.Second

// tpmStarted, when set, is called with swtpm's process once its control
// socket answers; tests use it to kill swtpm before qemu starts.
var tpmStarted func(p *os.Process)

// swtpm is a running TPM emulator: its state directory (0700, in the
// build's temporary directory) and the control socket qemu connects to.
type swtpm struct {
	cmd    *exec.Cmd
	dir    string
	ctrl   string
	exited chan struct{}
	err    error
	output *tail
	// stopping is set before bake stops swtpm; an exit without it is a
	// failure of the guest's TPM.
	stopping atomic.Bool
}

// startTPM starts swtpm for a build with vtpm: one process per build,
// with a private state directory, stopped and removed by stopTPM on every
// path. It returns once the control socket accepts connections.
func (b *Builder) startTPM(ctx context.Context, s *state) error {
	if !b.cfg.VTPM {
		return nil
	}
	dir := filepath.Join(s.tmpDir, "tpm")
	if strings.Contains(dir, ",") {
		return fmt.Errorf("vtpm: the temporary directory %s has a comma, which swtpm's options cannot carry; set TMPDIR elsewhere", s.tmpDir)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("vtpm: state directory: %w", err)
	}
	t := &swtpm{dir: dir, ctrl: filepath.Join(s.tmpDir, "tpm.sock"), exited: make(chan struct{}), output: &tail{max: 16 << 10}}
	s.tpm = t
	version := "2.0"
	args := []string{"socket",
		"--tpmstate", "dir=" + dir + ",mode=0600",
		"--ctrl", "type=unixio,path=" + t.ctrl,
		"--log", "level=1",
	}
	if b.cfg.UseTPM1 {
		version = "1.2"
	} else {
		args = append(args, "--tpm2")
	}
	// Not CommandContext: stopTPM stops it, after qemu, on every path.
	cmd := exec.Command(SwtpmBinary, args...)
	cmd.Stdout, cmd.Stderr = t.output, t.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.tpm = nil
		os.RemoveAll(dir)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("vtpm: %s not found (Debian's packages swtpm and swtpm-tools): %w", SwtpmBinary, err)
		}
		return fmt.Errorf("vtpm: start %s: %w", SwtpmBinary, err)
	}
	t.cmd = cmd
	go func() {
		t.err = cmd.Wait()
		close(t.exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("unix", t.ctrl, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if t.hasExited() {
			return fmt.Errorf("vtpm: %s exited at start: %v: %s", SwtpmBinary, t.err, t.output.String())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vtpm: %s's control socket did not answer within 20s: %w", SwtpmBinary, err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.ui.Say(fmt.Sprintf("started %s (TPM %s, pid %d) for the guest's vTPM", SwtpmBinary, version, cmd.Process.Pid))
	go func() {
		<-t.exited
		if !t.stopping.Load() {
			s.ui.Error(t.diedError().Error())
		}
	}()
	if tpmStarted != nil {
		tpmStarted(cmd.Process)
	}
	return nil
}

// diedError says that swtpm exited before bake stopped it.
func (t *swtpm) diedError() error {
	out := strings.TrimSpace(t.output.String())
	if out == "" {
		out = "(no output)"
	}
	return fmt.Errorf("vtpm: %s exited before the build stopped it (%v), so the guest's TPM stopped answering: %s", SwtpmBinary, t.err, out)
}

// checkTPM fails the build, after the provisioners, when swtpm died while
// they ran: the image would have been made without the TPM the template
// asked for.
func checkTPM(_ context.Context, s *state) error {
	if t := s.tpm; t != nil && t.hasExited() && !t.stopping.Load() {
		return t.diedError()
	}
	return nil
}

func (t *swtpm) hasExited() bool {
	select {
	case <-t.exited:
		return true
	default:
		return false
	}
}

// stopTPM stops swtpm (SIGTERM, SIGKILL after swtpmGrace) and removes its
// state directory and socket. It runs after qemu has stopped.
func stopTPM(_ context.Context, s *state) error {
	t := s.tpm
	if t == nil {
		return nil
	}
	t.stopping.Store(true)
	if t.cmd != nil && !t.hasExited() {
		t.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-t.exited:
		case <-time.After(swtpmGrace):
			t.cmd.Process.Kill()
			<-t.exited
		}
	}
	err := os.RemoveAll(t.dir)
	os.Remove(t.ctrl)
	if err != nil {
		return fmt.Errorf("vtpm: remove state directory: %w", err)
	}
	s.tpm = nil
	return nil
}

func leftTPM(s *state) string {
	t := s.tpm
	if t == nil {
		return ""
	}
	if t.cmd != nil && !t.hasExited() {
		pid := t.cmd.Process.Pid
		return fmt.Sprintf("swtpm process %d and its state %s (kill %d; rm -rf %s)", pid, t.dir, pid, t.dir)
	}
	return fmt.Sprintf("vTPM state directory %s (rm -rf %s)", t.dir, t.dir)
}
