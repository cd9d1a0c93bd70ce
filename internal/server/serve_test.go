package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// bakeServe is a `bake serve` process.
type bakeServe struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	url    string
	token  string
	exited chan struct{} // closed when the process has exited
	err    error         // its Wait error, once exited is closed
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServe(t *testing.T, bin, cfg, addr, token string) *bakeServe {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve", "-config", cfg, "-grace", "1s")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &bakeServe{cmd: cmd, out: &out, url: "http://" + addr, token: token, exited: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("bake serve output:\n%s", out.String())
		}
	})
	waitFor(t, time.Minute, "bake serve to answer /healthz", func() bool {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return s
}

func (s *bakeServe) do(t *testing.T, method, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (s *bakeServe) status(t *testing.T, id int) map[string]any {
	t.Helper()
	_, m := s.do(t, "GET", fmt.Sprintf("/api/v1/runs/%d", id))
	return m
}

// buildChildren returns the pids of `bake build` processes whose command
// line mentions dir.
func buildChildren(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 2 && args[1] == "build" && strings.Contains(string(b), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestServeProcess runs the bake binary as a user would: token create,
// serve -check (valid and not), serve; a server killed with SIGKILL under
// a running build comes back, marks the run interrupted and removes what
// it left (bake gc by run id); a second server on the same database is
// refused; SIGTERM drains: the running build is
// cancelled after the grace period and cleaned up, and serve exits.
func TestServeProcess(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) { testServeProcess(t, db) })
	}
}

func testServeProcess(t *testing.T, db string) {
	testenv.Docker(t, testenv.BaseImage())
	bin := bakebin.Path(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "image.pkr.hcl"), []byte(testTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.pkr.hcl"), []byte("source \"docker\" \"x\" {\n  imgae = \"a\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dsn := testDatabase(t, db)
	addr := freeAddr(t)
	state := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "server.hcl")
	write := func(extra string) {
		text := fmt.Sprintf(`
server {
  listen    = %q
  database  = %q
  state_dir = %q
}
pipeline "slow" {
  template  = "image.pkr.hcl"
  variables = { sleep = "300" }
}
%s`, addr, dsn, state, extra)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// serve -check: a template that does not validate is reported with
	// validate's diagnostics (file:line and the did-you-mean).
	write(`pipeline "broken" { template = "broken.pkr.hcl" }`)
	out, err := exec.Command(bin, "serve", "-check", "-config", cfg).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "broken.pkr.hcl:2") || !strings.Contains(string(out), `pipeline "broken"`) {
		t.Errorf("serve -check with a broken template: %v\n%s", err, out)
	}
	write("")
	if out, err := exec.Command(bin, "serve", "-check", "-config", cfg).CombinedOutput(); err != nil || !strings.Contains(string(out), "valid") {
		t.Errorf("serve -check: %v\n%s", err, out)
	}

	tokOut, err := exec.Command(bin, "token", "create", "-config", cfg, "-role", "operator", "-name", "ci").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(tokOut))
	if !strings.HasPrefix(token, "bake_") {
		t.Fatalf("token create printed %q", token)
	}

	// A crash: serve and its build die with SIGKILL while building.
	s := startServe(t, bin, cfg, addr, token)
	code, m := s.do(t, "POST", "/api/v1/pipelines/slow/runs")
	if code != 201 {
		t.Fatalf("trigger: %d %v", code, m)
	}
	id := int(m["id"].(float64))
	var bakeRunID string
	waitFor(t, 3*time.Minute, "the build's container", func() bool {
		st := s.status(t, id)
		bakeRunID, _ = st["bake_run_id"].(string)
		return bakeRunID != "" && len(containersOf(t, bakeRunID)) > 0
	})
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	for _, pid := range buildChildren(state) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, 30*time.Second, "the build child to die", func() bool { return len(buildChildren(state)) == 0 })
	if len(containersOf(t, bakeRunID)) == 0 {
		t.Fatal("the killed build left no container: the test proves nothing")
	}

	s = startServe(t, bin, cfg, addr, token)

	// A second server on the same database is refused, and says why.
	out, err = exec.Command(bin, "serve", "-config", cfg).CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(string(out), "in use by another bake serve") {
		t.Errorf("a second serve on the same database: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "address already in use") {
		t.Errorf("the second serve got as far as listening:\n%s", out)
	}

	st := s.status(t, id)
	if st["status"] != StatusInterrupted {
		t.Errorf("after restart run %d is %v, want interrupted", id, st["status"])
	}
	if left := containersOf(t, bakeRunID); len(left) > 0 {
		t.Errorf("restart recovery left the crashed run's containers: %v", left)
	}
	store, err := OpenStore(context.Background(), dsn, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	evs, _ := store.Events(context.Background(), int64(id), 0, 10000)
	var gcText string
	for _, e := range evs {
		if strings.Contains(string(e.Body), "bake gc -run-id") {
			gcText = string(e.Body)
		}
	}
	if !strings.Contains(gcText, "docker container") {
		t.Errorf("no gc event naming the container; events: %d, gc: %q", len(evs), gcText)
	}

	// SIGTERM drains: the running build gets -grace (1s), is cancelled,
	// cleans up; serve exits 130.
	code, m = s.do(t, "POST", "/api/v1/pipelines/slow/runs")
	if code != 201 {
		t.Fatalf("trigger: %d %v", code, m)
	}
	id2 := int(m["id"].(float64))
	waitFor(t, 3*time.Minute, "the second build's container", func() bool {
		st := s.status(t, id2)
		bakeRunID, _ = st["bake_run_id"].(string)
		return bakeRunID != "" && len(containersOf(t, bakeRunID)) > 0
	})
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if err := s.err; !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("serve after SIGTERM: %v, want exit status 130", err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("serve did not exit after SIGTERM")
	}
	run, err := store.Run(context.Background(), int64(id2))
	if err != nil || run.Status != StatusCancelled {
		t.Errorf("run after drain: %+v %v", run, err)
	}
	if left := containersOf(t, bakeRunID); len(left) > 0 {
		t.Errorf("drain left containers: %v", left)
	}
}
