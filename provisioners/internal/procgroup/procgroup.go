// Package procgroup runs a host command in a process group of its own, so
// that a cancel stops the command and everything it started: SIGTERM to
// the group, SIGKILL to what is left after a grace period. shell-local and
// ansible run their commands through it.
package procgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options say how a group ends.
type Options struct {
	// Grace is the time between SIGTERM and SIGKILL (and the bound on
	// waiting for output pipes a background process still holds).
	Grace time.Duration
	// Reap also ends what is left of the group when the command exits on
	// its own (Ansible's ssh children); without it, background processes
	// a command started on purpose keep running.
	Reap bool
}

// Run runs cmd (made by exec.CommandContext with ctx) in its own process
// group and returns its exit status, 128+n for a command killed by signal
// n. When ctx ends, the group gets SIGTERM, then SIGKILL after
// opts.Grace, and Run returns only once the group is gone, with an error
// wrapping ctx's cause. err is non-nil only when the command could not be
// run or was cancelled; it names the program, never its arguments.
func Run(ctx context.Context, cmd *exec.Cmd, opts Options) (int, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = opts.Grace
	err := cmd.Run()
	if cmd.Process != nil && (ctx.Err() != nil || opts.Reap) {
		end(cmd.Process.Pid, opts.Grace)
	}
	name := filepath.Base(cmd.Path)
	if ctx.Err() != nil {
		return -1, fmt.Errorf("%s cancelled: %w", name, context.Cause(ctx))
	}
	var exit *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil:
		return cmd.ProcessState.ExitCode(), nil
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	default:
		return -1, fmt.Errorf("run %s: %w", name, err)
	}
}

// end waits up to grace for process group pgid (sent SIGTERM on cancel)
// to be gone, then kills what is left of it and waits briefly for the
// kernel to finish it.
func end(pgid int, grace time.Duration) {
	if wait(pgid, grace) {
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	wait(pgid, 2*time.Second)
}

// wait polls until no live process of group pgid is left or d has
// passed, and reports whether the group is gone.
func wait(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !Alive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Alive reports whether a process of group pgid still runs. On Linux it
// reads /proc, so that zombies (dead, waiting for whoever adopted them to
// reap them) do not count; elsewhere it asks kill(2).
func Alive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}
