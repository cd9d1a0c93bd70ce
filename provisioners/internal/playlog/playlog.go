// Package playlog reads ansible-playbook's default output as it streams
// by, for the task that was running and the first host that failed or
// could not be reached, so that the ansible provisioners' errors can name
// them.
package playlog

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
)

// Tracker is an io.Writer that follows Ansible's output line by line. It
// is safe for concurrent use.
type Tracker struct {
	mu          sync.Mutex
	partial     []byte
	task        string
	failedTask  string
	failedHost  string
	unreachable bool
}

var (
	taskLine  = regexp.MustCompile(`^(?:TASK|RUNNING HANDLER) \[(.*)\] \**$`)
	fatalLine = regexp.MustCompile(`^fatal: \[([^\]]+)\]: (FAILED|UNREACHABLE)!`)
	ansiCodes = regexp.MustCompile("\x1b\\[[0-9;]*m")
)

// maxLine bounds the part of a line kept while waiting for its end.
const maxLine = 1 << 16

// Write records p; it never fails.
func (t *Tracker) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.line(ansiCodes.ReplaceAllString(strings.TrimRight(string(t.partial[:i]), "\r"), ""))
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > maxLine {
		t.partial = t.partial[:0]
	}
	return len(p), nil
}

func (t *Tracker) line(l string) {
	if m := taskLine.FindStringSubmatch(l); m != nil {
		t.task = m[1]
		return
	}
	if m := fatalLine.FindStringSubmatch(l); m != nil && t.failedHost == "" {
		t.failedTask, t.failedHost, t.unreachable = t.task, m[1], m[2] == "UNREACHABLE"
	}
}

// Failure describes the first failure seen: "task "X" failed on host
// H" or "host H unreachable in task "X"", or "" when none was.
func (t *Tracker) Failure() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.failedHost == "":
		return ""
	case t.unreachable:
		return "host " + t.failedHost + " unreachable in task " + quote(t.failedTask)
	default:
		return "task " + quote(t.failedTask) + " failed on host " + t.failedHost
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
