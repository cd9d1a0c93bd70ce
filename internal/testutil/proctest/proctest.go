// Package proctest looks at the processes of this host, for tests that
// check what a command line shows to every user (ps) and that a process
// is gone.
package proctest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Process is one live process of this host.
type Process struct {
	PID     int
	Cmdline string // its arguments joined with spaces
}

// WithArg returns the live processes of this host (those of containers
// on a local engine included) whose command line contains s: what `ps`
// would show any user. It reads /proc, so it is Linux only.
func WithArg(s string) []Process {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		line := string(bytes.TrimRight(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), " "))
		if strings.Contains(line, s) && alive(pid) {
			out = append(out, Process{PID: pid, Cmdline: line})
		}
	}
	return out
}

// alive reports whether pid runs: a zombie, dead and waiting to be
// reaped, does not.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// Buffer collects a process's output while a test reads it: a
// bytes.Buffer safe for one writer and concurrent readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
