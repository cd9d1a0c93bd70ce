package procgroup

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A cancel ends the command and the background process it started; the
// group is gone when Run returns.
func TestCancelEndsTheGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	// The shell ignores SIGTERM, so only the SIGKILL after Grace ends it.
	cmd := exec.CommandContext(ctx, "sh", "-c", "trap '' TERM; sleep 60 & sleep 60")
	status, err := Run(ctx, cmd, Options{Grace: 200 * time.Millisecond})
	if err == nil || status != -1 || !strings.Contains(err.Error(), "sh cancelled") {
		t.Fatalf("status %d, err %v", status, err)
	}
	if Alive(cmd.Process.Pid) {
		t.Fatal("a process of the group outlived Run")
	}
}

// Exit statuses: the command's own, 128+n for a signal.
func TestExitStatus(t *testing.T) {
	for script, want := range map[string]int{"exit 0": 0, "exit 254": 254, "kill -9 $$": 128 + 9} {
		cmd := exec.CommandContext(context.Background(), "sh", "-c", script)
		got, err := Run(context.Background(), cmd, Options{Grace: time.Second})
		if err != nil || got != want {
			t.Errorf("%s: status %d, err %v; want %d", script, got, err, want)
		}
	}
}

// Reap ends what a command left running in its group; without it, a
// background process the command started on purpose keeps running.
func TestReap(t *testing.T) {
	for _, reap := range []bool{true, false} {
		cmd := exec.CommandContext(context.Background(), "sh", "-c", "sleep 60 >/dev/null 2>&1 &")
		if _, err := Run(context.Background(), cmd, Options{Grace: 100 * time.Millisecond, Reap: reap}); err != nil {
			t.Fatal(err)
		}
		alive := Alive(cmd.Process.Pid)
		if alive == reap {
			t.Errorf("Reap %v: group alive after Run: %v", reap, alive)
		}
		if alive {
			end(cmd.Process.Pid, 0)
		}
	}
}
