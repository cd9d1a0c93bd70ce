package gc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procRoot is where processes are read from; tests do not change it.
const procRoot = "/proc"

// Process is a running process as /proc shows it.
type Process struct {
	PID int
	// PGID is its process group.
	PGID int
	// Start identifies this process among all that had its pid: its start
	// time in clock ticks since boot.
	Start string
	// Started is Start as a time (boot time + ticks).
	Started time.Time
	// Args is its command line.
	Args []string
	// State is the state letter from /proc/PID/stat (R, S, Z…).
	State string
}

// Env returns the value of the variable name in p's environment, if this
// user may read it.
func (p Process) Env(name string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(p.PID), "environ"))
	if err != nil {
		return "", false
	}
	prefix := []byte(name + "=")
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v), true
		}
	}
	return "", false
}

// Processes lists the running processes (zombies excluded) but this one.
// Where there is no /proc it lists none.
func Processes() ([]Process, error) {
	des, err := os.ReadDir(procRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	var out []Process
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil || pid == self {
			continue
		}
		p, ok := readProcess(pid)
		if !ok || p.State == "Z" || p.State == "X" {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// readProcess reads one process; false when it is gone.
func readProcess(pid int) (Process, bool) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Process{}, false
	}
	// pid (comm) state ppid pgrp … field 22 is starttime; comm may hold
	// spaces and parentheses, so parse after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return Process{}, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return Process{}, false
	}
	p := Process{PID: pid, State: f[0], Start: f[19]}
	p.PGID, _ = strconv.Atoi(f[2])
	if ticks, err := strconv.ParseInt(p.Start, 10, 64); err == nil {
		if bt := bootTime(); !bt.IsZero() {
			p.Started = bt.Add(time.Duration(ticks) * time.Second / clockTicks)
		}
	}
	cmd, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	for _, a := range bytes.Split(bytes.TrimRight(cmd, "\x00"), []byte{0}) {
		if len(a) > 0 {
			p.Args = append(p.Args, string(a))
		}
	}
	return p, true
}

// clockTicks is USER_HZ, 100 on every Linux architecture bake runs on.
const clockTicks = 100

var bootOnce = sync.OnceValue(func() time.Time {
	b, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(s, 0)
			}
		}
	}
	return time.Time{}
})

func bootTime() time.Time { return bootOnce() }

// procStartTicks returns pid's start in clock ticks since boot, "" when
// unknown.
func procStartTicks(pid int) string {
	p, ok := readProcess(pid)
	if !ok {
		return ""
	}
	return p.Start
}

// processAlive reports whether pid runs and is the process that started at
// start ("" when the start was not known: then the pid alone decides).
func processAlive(pid int, start string) bool {
	if pid <= 0 {
		return false
	}
	if p, ok := readProcess(pid); ok {
		return p.State != "Z" && p.State != "X" && (start == "" || p.Start == start)
	}
	if _, err := os.Stat(procRoot); err == nil {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Kill stops process pid if it is still the one that started at start:
// SIGTERM to it (to its whole group when it leads one), then after grace
// SIGKILL, and waits until it is gone. A process already gone is not an
// error.
func Kill(ctx context.Context, pid int, start string, grace time.Duration) error {
	p, ok := readProcess(pid)
	if !ok || p.Start != start || p.State == "Z" {
		return nil
	}
	target := pid
	if p.PGID == pid {
		target = -pid
	}
	signal := func(sig syscall.Signal) error {
		err := syscall.Kill(target, sig)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("signal process %d: %w", pid, err)
		}
		return nil
	}
	if err := signal(syscall.SIGTERM); err != nil {
		return err
	}
	deadline := time.Now().Add(grace)
	killed := false
	for {
		if !processAlive(pid, start) {
			return nil
		}
		if !killed && time.Now().After(deadline) {
			if err := signal(syscall.SIGKILL); err != nil {
				return err
			}
			killed = true
			deadline = time.Now().Add(10 * time.Second)
		} else if killed && time.Now().After(deadline) {
			return fmt.Errorf("process %d did not exit after SIGKILL", pid)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for process %d to exit: %w", pid, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
