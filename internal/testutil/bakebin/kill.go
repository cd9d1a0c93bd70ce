package bakebin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// KillPoint says when KillAt SIGKILLs bake: after the -debug pause that
// follows Step, or once the file Marker exists (a provisioner that writes
// it and then waits, so that bake is killed while it runs).
type KillPoint struct {
	Step   string
	Marker string
	// Before, when set, runs at the kill point while bake still runs,
	// given the run id.
	Before func(runID string)
}

func (k KillPoint) String() string {
	if k.Marker != "" {
		return "marker " + k.Marker
	}
	return "after " + k.Step
}

// KillAt runs cmd, a `bake build -json -debug …` whose stdin, stdout and
// stderr it takes over: it answers every -debug pause with Enter until the
// kill point, then SIGKILLs bake and waits for it. It returns the run id
// (from the run_started event) and everything bake wrote. Reaching the end
// of the build without meeting the kill point fails t.
func KillAt(t testing.TB, cmd *exec.Cmd, at KillPoint) (runID, output string) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		out    bytes.Buffer
		killed = make(chan struct{})
		once   sync.Once
		id     = make(chan string, 1)
	)
	var runIDSeen string
	kill := func() {
		once.Do(func() {
			if at.Before != nil {
				// run_started comes first on stdout; its reader may lag.
				var rid string
				for i := 0; i < 500 && rid == ""; i++ {
					mu.Lock()
					rid = runIDSeen
					mu.Unlock()
					if rid == "" {
						time.Sleep(20 * time.Millisecond)
					}
				}
				at.Before(rid)
			}
			// Marked before the kill: once the process dies, cmd.Wait
			// may return before a close after Kill would have run.
			close(killed)
			_ = cmd.Process.Kill()
		})
	}
	record := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		out.WriteString(line + "\n")
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 4<<20)
		for sc.Scan() {
			record(sc.Text())
			var ev struct{ Type, Message string }
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "run_started" {
				f := strings.Fields(strings.TrimPrefix(ev.Message, "run "))
				if len(f) > 0 {
					mu.Lock()
					runIDSeen = strings.TrimSuffix(f[0], ":")
					mu.Unlock()
					id <- runIDSeen
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			record(line)
			if _, rest, ok := strings.Cut(line, "paused after "); ok {
				step, _, _ := strings.Cut(strings.TrimPrefix(rest, `"`), `"`)
				if at.Step != "" && step == at.Step {
					kill()
					continue
				}
				_, _ = io.WriteString(stdin, "\n")
			}
		}
	}()
	if at.Marker != "" {
		go func() {
			for {
				select {
				case <-killed:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := os.Stat(at.Marker); err == nil {
					kill()
					return
				}
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		wg.Wait()
		done <- cmd.Wait()
	}()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(5 * time.Minute):
		kill()
		werr = <-done
	}
	select {
	case runID = <-id:
	default:
	}
	mu.Lock()
	output = out.String()
	mu.Unlock()
	select {
	case <-killed:
	default:
		t.Fatalf("bake build ended (%v) before the kill point (%s):\n%s", werr, at, output)
	}
	if runID == "" {
		t.Fatalf("no run_started event before the kill point:\n%s", output)
	}
	return runID, output
}

// GC runs `bake gc ARGS…` with env and returns its output; a failure
// (exit status other than 0) fails t.
func GC(t testing.TB, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(Path(t), append([]string{"gc"}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bake gc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Env returns the environment for a bake process whose state directory
// (run journals) and temporary directory are the test's own: os.Environ()
// with BAKE_STATE_DIR and TMPDIR set, and extra appended.
//
// TMPDIR is short (/tmp/bkXXXX): qemu's monitor socket lives in it, and a
// unix socket path must stay under 108 bytes, which t.TempDir() can pass.
func Env(t testing.TB, extra ...string) []string {
	t.Helper()
	state := t.TempDir()
	tmp, err := os.MkdirTemp("/tmp", "bk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	return append(os.Environ(), append([]string{"BAKE_STATE_DIR=" + state, "TMPDIR=" + tmp}, extra...)...)
}

// Getenv returns the value of key in env, "" when absent.
func Getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}
