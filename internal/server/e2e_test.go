package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/bake-tool/bake/artifacts/registry"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// service is a bake serve assembled in the test process (store, runner,
// HTTP server) whose runs are real `bake build -json` children.
type service struct {
	cfg    *Config
	store  *Store
	runner *Runner
	url    string
	cancel context.CancelFunc
	done   chan struct{}
	tokens map[string]string // role → token
}

// hookReceiver is a loopback webhook receiver that checks signatures.
type hookReceiver struct {
	mu       sync.Mutex
	secret   string
	failLeft int // answer 500 this many times first
	got      []WebhookPayload
	keys     []string
	bad      []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if got, want := r.Header.Get(SignatureHeader), Sign([]byte(h.secret), body); got != want {
		h.bad = append(h.bad, fmt.Sprintf("signature %q, want %q", got, want))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.keys = append(h.keys, r.Header.Get(IdempotencyHeader))
	if h.failLeft > 0 {
		h.failLeft--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var p WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		h.bad = append(h.bad, err.Error())
	}
	h.got = append(h.got, p)
}

// startService writes a config with pipelines "ok" (publishes and
// promotes to channel nightly, webhook to hook) and "slow" (sleeps), and
// starts the service on a new database of kind. extra is added to the
// configuration; KEY in it is the signing key's path.
func startService(t *testing.T, kind, hookURL string, extra ...string) *service {
	t.Helper()
	testenv.Docker(t, testenv.BaseImage())
	reg := testenv.Registry(t)
	bin := bakebin.Path(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "image.pkr.hcl"), []byte(testTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	key := writeKey(t, dir)
	dsn := kind // a database setting of its own ("sqlite:PATH")
	if kind == DatabaseSQLite || kind == DatabasePostgres {
		dsn = testDatabase(t, kind)
	}
	viewer := NewToken()
	repo := fmt.Sprintf("%s/bake-serve-test/%d", reg, time.Now().UnixNano())
	cfgText := fmt.Sprintf(`
server {
  listen   = "127.0.0.1:0"
  database = %q
  max_concurrent_runs = 2
  token "watcher" {
    role   = "viewer"
    sha256 = %q
  }
}
pipeline "ok" {
  template = "image.pkr.hcl"
  sign_key = %q
  publish  = %q
  promote  = "nightly"
  webhook {
    url    = %q
    events = ["run.started", "run.succeeded", "run.failed", "run.promoted"]
    secret = env("HOOK_SECRET")
  }
}
pipeline "slow" {
  template  = "image.pkr.hcl"
  variables = { sleep = "300" }
  timeout   = "10m"
}
pipeline "broken" {
  template  = "image.pkr.hcl"
  variables = { fail = "true" }
  webhook {
    url    = %q
    secret = env("HOOK_SECRET")
  }
}
`, dsn, HashToken(viewer), key, repo, hookURL, hookURL) + strings.ReplaceAll(strings.Join(extra, "\n"), "KEY", key)
	cfgPath := filepath.Join(dir, "server.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, diags := LoadConfig(cfgPath, func(k string) string {
		if k == "HOOK_SECRET" {
			return "hook-secret"
		}
		return ""
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	store, err := OpenStore(context.Background(), cfg.Server.Database.Reveal(), StoreOptions{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	operator := NewToken()
	if err := store.CreateToken(context.Background(), "op", RoleOperator, HashToken(operator)); err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics()
	hub := NewHub()
	regOpts := registry.Options{Keychain: authn.NewMultiKeychain()}
	notifier := &Notifier{Store: store, Backoff: 50 * time.Millisecond, Attempts: 4, Metrics: metrics}
	runner := NewRunner(cfg, store, hub, RunnerOptions{Bake: bin, Env: append(os.Environ(), "BAKE_NO_CACHE=1"), KillGrace: time.Minute, Notifier: notifier, Metrics: metrics, Registry: regOpts, PublishBackoff: 100 * time.Millisecond})
	if err := runner.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewServer(ServerOptions{Config: cfg, Store: store, Hub: hub, Runner: runner, Metrics: metrics, Registry: regOpts}))
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{cfg: cfg, store: store, runner: runner, url: srv.URL, cancel: cancel, done: make(chan struct{}),
		tokens: map[string]string{RoleViewer: viewer, RoleOperator: operator}}
	go func() { runner.Run(ctx, time.Minute); close(s.done) }()
	t.Cleanup(func() {
		cancel()
		runner.CancelAll()
		<-s.done
		notifier.Wait()
		srv.CloseClientConnections()
		srv.Close()
	})
	return s
}

// call makes an API request with the token of role ("" for none) and
// decodes a JSON answer into out (when not nil); it returns the status.
func (s *service) call(t *testing.T, method, path, role string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+s.tokens[role])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return resp.StatusCode
}

func (s *service) run(t *testing.T, id int64) *Run {
	t.Helper()
	var r Run
	if code := s.call(t, "GET", fmt.Sprintf("/api/v1/runs/%d", id), RoleViewer, nil, &r); code != 200 {
		t.Fatalf("GET run %d: %d", id, code)
	}
	return &r
}

func (s *service) waitStatus(t *testing.T, id int64, d time.Duration, want ...string) *Run {
	t.Helper()
	var r *Run
	waitFor(t, d, fmt.Sprintf("run %d to be %v", id, want), func() bool {
		r = s.run(t, id)
		return contains(want, r.Status)
	})
	return r
}

// TestServeRuns is the service end to end: auth, a run triggered through
// the API followed live over SSE to its end, published and promoted in
// the loopback registry, a signed webhook retried until delivered,
// metrics; a failing run with its reason; a running build cancelled from
// the API that cleans up as on Ctrl-C.
func TestServeRuns(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) { testServeRuns(t, db) })
	}
}

func testServeRuns(t *testing.T, db string) {
	hook := &hookReceiver{secret: "hook-secret", failLeft: 1}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	s := startService(t, db, hookSrv.URL)

	// Auth: nothing anonymous but /healthz and /metrics; a viewer cannot
	// trigger.
	if code := s.call(t, "GET", "/api/v1/runs", "", nil, nil); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	if code := s.call(t, "POST", "/api/v1/pipelines/ok/runs", RoleViewer, nil, nil); code != 403 {
		t.Errorf("viewer POST: %d, want 403", code)
	}
	if code := s.call(t, "POST", "/api/v1/pipelines/nope/runs", RoleOperator, nil, nil); code != 404 {
		t.Errorf("unknown pipeline: %d, want 404", code)
	}

	// A run, followed live.
	var run Run
	if code := s.call(t, "POST", "/api/v1/pipelines/ok/runs", RoleOperator, nil, &run); code != 201 || run.ID == 0 {
		t.Fatalf("trigger: %d %+v", code, run)
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/runs/%d/events/stream", s.url, run.ID), nil)
	req.Header.Set("Authorization", "Bearer "+s.tokens[RoleViewer])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	var types []string
	var final Run
	timeout := time.After(3 * time.Minute)
	lines := readSSE(t, resp)
stream:
	for {
		select {
		case d, ok := <-lines:
			if !ok {
				break stream
			}
			var ev Event
			if err := json.Unmarshal([]byte(d), &ev); err != nil {
				t.Fatalf("SSE data %q: %v", d, err)
			}
			types = append(types, ev.Type)
			if ev.Type == "run" {
				json.Unmarshal(ev.Body, &final)
			}
		case <-timeout:
			t.Fatalf("stream did not end; events so far: %v", types)
		}
	}
	if final.Status != StatusSucceeded {
		evs, _ := s.store.Events(context.Background(), run.ID, 0, 1000)
		t.Fatalf("run ended %q (%s); events: %v", final.Status, final.Error, evs)
	}
	for _, want := range []string{"run_started", "build_started", "output", "build_finished", "run_finished"} {
		if !contains(types, want) {
			t.Errorf("the live stream had no %s event: %v", want, types)
		}
	}
	got := s.run(t, run.ID)
	if got.Version == "" || got.Promoted != "nightly" || got.BakeRunID == "" || got.ExitCode == nil || *got.ExitCode != 0 {
		t.Errorf("finished run = %+v", got)
	}
	// The events are in the database, in order, after the stream.
	var evs []Event
	s.call(t, "GET", fmt.Sprintf("/api/v1/runs/%d/events?limit=5000", run.ID), RoleViewer, nil, &evs)
	if len(evs) < 5 || evs[0].Seq != 1 || evs[len(evs)-1].Seq != len(evs) {
		t.Errorf("stored events: %d, first/last seq wrong", len(evs))
	}
	// Promoted: the channel in the registry points at the run's version.
	var chans []registry.Record
	if code := s.call(t, "GET", "/api/v1/pipelines/ok/channels", RoleViewer, nil, &chans); code != 200 || len(chans) != 1 || chans[0].Channel != "nightly" || chans[0].Version != got.Version {
		t.Errorf("channels: %d %+v, want nightly -> %s", code, chans, got.Version)
	}
	// Promote from the API needs operator.
	if code := s.call(t, "POST", "/api/v1/pipelines/ok/channels/staging/promote", RoleViewer, map[string]string{"version": got.Version}, nil); code != 403 {
		t.Errorf("viewer promote: %d, want 403", code)
	}
	var rec registry.Record
	if code := s.call(t, "POST", "/api/v1/pipelines/ok/channels/staging/promote", RoleOperator, map[string]string{"version": got.Version, "reason": "test"}, &rec); code != 200 || rec.Version != got.Version || rec.Sequence != 1 {
		t.Errorf("operator promote: %d %+v", code, rec)
	}

	// A failing run says why.
	var bad Run
	s.call(t, "POST", "/api/v1/pipelines/broken/runs", RoleOperator, nil, &bad)
	// A slow run, cancelled while it builds.
	var slow Run
	s.call(t, "POST", "/api/v1/pipelines/slow/runs", RoleOperator, nil, &slow)
	b := s.waitStatus(t, bad.ID, 3*time.Minute, StatusFailed, StatusSucceeded)
	if b.Status != StatusFailed || !strings.Contains(b.Error, "docker.base") || b.ExitCode == nil || *b.ExitCode != 1 {
		t.Errorf("broken run = %+v (error %q)", b, b.Error)
	}
	waitFor(t, 3*time.Minute, "the slow build to tick", func() bool {
		evs, _ := s.store.Events(context.Background(), slow.ID, 0, 10000)
		for _, e := range evs {
			if strings.Contains(string(e.Body), "tick 2") {
				return true
			}
		}
		return false
	})
	sr := s.run(t, slow.ID)
	if len(containersOf(t, sr.BakeRunID)) == 0 {
		t.Fatalf("no container labelled with run %s while it builds", sr.BakeRunID)
	}
	if code := s.call(t, "POST", fmt.Sprintf("/api/v1/runs/%d/cancel", slow.ID), RoleViewer, nil, nil); code != 403 {
		t.Errorf("viewer cancel: %d, want 403", code)
	}
	start := time.Now()
	if code := s.call(t, "POST", fmt.Sprintf("/api/v1/runs/%d/cancel", slow.ID), RoleOperator, nil, nil); code != 202 {
		t.Fatalf("cancel: %d", code)
	}
	c := s.waitStatus(t, slow.ID, 2*time.Minute, StatusCancelled, StatusFailed, StatusSucceeded)
	if c.Status != StatusCancelled {
		t.Errorf("cancelled run = %+v", c)
	}
	t.Logf("cancel took %s", time.Since(start).Round(time.Millisecond))
	if left := containersOf(t, sr.BakeRunID); len(left) > 0 {
		t.Errorf("containers left after cancel: %v", left)
	}
	if code := s.call(t, "POST", fmt.Sprintf("/api/v1/runs/%d/cancel", slow.ID), RoleOperator, nil, nil); code != 409 {
		t.Errorf("cancel of a finished run: %d, want 409", code)
	}

	// Webhooks: signed, the first attempt refused, retried with the same
	// idempotency key, recorded.
	waitFor(t, 30*time.Second, "webhooks", func() bool {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		return len(hook.got) >= 4
	})
	hook.mu.Lock()
	if len(hook.bad) > 0 {
		t.Errorf("bad webhook requests: %v", hook.bad)
	}
	events := map[string]int64{}
	for _, p := range hook.got {
		events[p.Event] = p.Run.ID
	}
	for _, e := range []string{EventRunStarted, EventRunSucceeded, EventRunPromoted, EventRunFailed} {
		if _, ok := events[e]; !ok {
			t.Errorf("no %s webhook (got %v)", e, events)
		}
	}
	if events[EventRunFailed] != bad.ID {
		t.Errorf("run.failed was about run %d, want %d", events[EventRunFailed], bad.ID)
	}
	hook.mu.Unlock()
	var ds []Delivery
	s.call(t, "GET", fmt.Sprintf("/api/v1/runs/%d/deliveries", run.ID), RoleViewer, nil, &ds)
	if len(ds) < 4 || ds[0].StatusCode != 500 || ds[1].StatusCode != 200 || ds[0].IdempotencyKey != ds[1].IdempotencyKey || ds[1].Attempt != 2 {
		t.Errorf("deliveries: %+v", ds)
	}

	// Metrics, without a token.
	resp, err = http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`bake_runs{status="succeeded"} 1`, `bake_runs{status="failed"} 1`, `bake_runs{status="cancelled"} 1`,
		`bake_run_duration_seconds_count{pipeline="ok"} 1`, "bake_queue_depth 0", "bake_webhook_failures_total 1",
		// client_golang: build durations by builder (the ok pipeline's
		// docker build succeeded), and the standard process metrics.
		`bake_build_duration_seconds_count{builder="docker",status="succeeded"} `, "process_resident_memory_bytes", "go_goroutines",
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics has no %q:\n%s", want, m)
		}
	}
}

// TestPublishRetried publishes to a registry address nothing listens on
// (a loopback port reserved and closed): the publish is tried four times
// with backoff, each failure in the log, then the run fails saying so,
// and the image the build committed is still there; on SQLite and on
// PostgreSQL.
func TestPublishRetried(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			dir := t.TempDir()
			tpl := filepath.Join(dir, "tested.pkr.hcl")
			if err := os.WriteFile(tpl, []byte(testedTemplate), 0o644); err != nil {
				t.Fatal(err)
			}
			down := freeAddr(t) + "/bake-down"
			s := startService(t, db, "http://127.0.0.1:9/unused", fmt.Sprintf(`pipeline "down" {
  template = %q
  sign_key = "KEY"
  publish  = %q
  promote  = "nightly"
}
`, tpl, down))
			var run Run
			if code := s.call(t, "POST", "/api/v1/pipelines/down/runs", RoleOperator, nil, &run); code != 201 {
				t.Fatalf("trigger: %d", code)
			}
			got := s.waitStatus(t, run.ID, 4*time.Minute, StatusSucceeded, StatusFailed, StatusCancelled)
			var arts RunArtifacts
			s.call(t, "GET", fmt.Sprintf("/api/v1/runs/%d/artifacts", run.ID), RoleViewer, nil, &arts)
			var images []string
			for _, b := range arts.Builds {
				for _, a := range b.Artifacts {
					images = append(images, a.ExternalIdentifier)
				}
			}
			t.Cleanup(func() {
				for _, id := range images {
					exec.Command("docker", "rmi", "-f", id).Run()
				}
			})
			want := "built, but publish to " + down + " failed: 4 attempts"
			if got.Status != StatusFailed || !strings.Contains(got.Error, want) || !strings.Contains(got.Error, "artifacts are kept") || got.Promoted != "" {
				t.Fatalf("run = %s %q, want failed with %q", got.Status, got.Error, want)
			}
			evs, _ := s.store.Events(context.Background(), run.ID, 0, 10000)
			var retries []string
			for _, ev := range evs {
				if ev.Type == "server" && strings.Contains(string(ev.Body), "trying again in") {
					retries = append(retries, eventLine(ev))
				}
			}
			if len(retries) != 3 || !strings.Contains(retries[0], "attempt 1 of 4") || !strings.Contains(retries[2], "trying again in 400ms") {
				t.Errorf("retries in the log: %q", retries)
			}
			if len(images) != 1 {
				t.Fatalf("artifacts recorded: %+v", arts)
			}
			if out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", images[0]).CombinedOutput(); err != nil {
				t.Errorf("the built image %s is gone after the failed publish: %v %s", images[0], err, out)
			}
		})
	}
}

// tmpfs mounts a tmpfs of size bytes on a new directory, unmounted with
// the test.
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "bake-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs (the test runs as root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file into dir until its file system has no more than
// leave bytes free, and returns the file's path.
func fillDisk(t *testing.T, dir string, leave uint64) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		free, err := freeBytes(dir)
		if err != nil {
			t.Fatal(err)
		}
		if free <= leave {
			return p
		}
		if _, err := f.Write(chunk); err != nil {
			return p // ENOSPC: full
		}
	}
}

// TestFullDisk runs builds whose working directory (the server's
// state_dir) is on a small tmpfs: full before the run, the run fails at
// once saying the disk is full; with a few KiB left, the build runs and
// fails when its manifest does not fit, and the run's error puts the
// disk first; the server goes on serving, and once space is freed the
// next run succeeds; on SQLite and on PostgreSQL (the database is not on
// the full disk).
func TestFullDisk(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			s := startService(t, db, "http://127.0.0.1:9/unused", `pipeline "plain" {
  template = "image.pkr.hcl"
}
`)
			mnt := tmpfs(t, 1<<20)
			s.cfg.Server.StateDir = mnt
			s.runner.opts.MinFree = 8 << 10
			runPlain := func(what string) *Run {
				t.Helper()
				var run Run
				if code := s.call(t, "POST", "/api/v1/pipelines/plain/runs", RoleOperator, nil, &run); code != 201 {
					t.Fatalf("%s: trigger: %d", what, code)
				}
				return s.waitStatus(t, run.ID, 3*time.Minute, StatusSucceeded, StatusFailed, StatusCancelled)
			}

			filler := fillDisk(t, mnt, 0)
			full := runPlain("full disk")
			if full.Status != StatusFailed || !strings.HasPrefix(full.Error, "the disk is full: the file system holding "+mnt) {
				t.Errorf("run on a full disk: %s %q", full.Status, full.Error)
			}

			os.Remove(filler)
			fillDisk(t, mnt, 12<<10)
			mid := runPlain("disk full during the run")
			if mid.Status != StatusFailed || !strings.HasPrefix(mid.Error, "the disk is full:") || !strings.Contains(mid.Error, "no space left on device") {
				t.Errorf("run that fills the disk: %s %q", mid.Status, mid.Error)
			}
			t.Logf("errors:\n%s\n%s", full.Error, mid.Error)

			// The server goes on: it answers, and with room again a run
			// succeeds.
			if code := s.call(t, "GET", "/api/v1/runs", RoleViewer, nil, nil); code != 200 {
				t.Errorf("GET runs after the disk filled: %d", code)
			}
			os.Remove(filepath.Join(mnt, "filler"))
			if ok := runPlain("after freeing space"); ok.Status != StatusSucceeded {
				t.Errorf("run after freeing space: %s %q", ok.Status, ok.Error)
			}
		})
	}
}

// TestCacheMetric runs a docker pipeline twice with the build cache on
// (its own cache directory; scripts/test.sh turns the cache off for
// everything else): the first run's step is a miss, the second's a hit,
// and /metrics counts them in bake_cache_steps_total.
func TestCacheMetric(t *testing.T) {
	s := startService(t, DatabaseSQLite, "http://127.0.0.1:9/unused", `pipeline "plain" {
  template = "image.pkr.hcl"
}
`)
	cacheDir := t.TempDir()
	var env []string
	for _, kv := range s.runner.opts.Env {
		if !strings.HasPrefix(kv, "BAKE_NO_CACHE=") && !strings.HasPrefix(kv, "BAKE_CACHE_DIR=") {
			env = append(env, kv)
		}
	}
	s.runner.opts.Env = append(env, "BAKE_CACHE_DIR="+cacheDir)
	t.Cleanup(func() {
		// The cache's docker images (bake-cache:KEY) go with its entries.
		cmd := exec.Command(bakebin.Path(t), "cache", "prune")
		cmd.Env = s.runner.opts.Env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("bake cache prune: %v %s", err, out)
		}
	})
	metric := func() string {
		resp, err := http.Get(s.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m, _ := io.ReadAll(resp.Body)
		var lines []string
		for _, l := range strings.Split(string(m), "\n") {
			if strings.HasPrefix(l, "bake_cache_steps_total{") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	}
	for i, want := range []string{
		`bake_cache_steps_total{builder="docker",result="miss"} 1`,
		`bake_cache_steps_total{builder="docker",result="hit"} 1` + "\n" + `bake_cache_steps_total{builder="docker",result="miss"} 1`,
	} {
		var run Run
		if code := s.call(t, "POST", "/api/v1/pipelines/plain/runs", RoleOperator, nil, &run); code != 201 {
			t.Fatalf("trigger: %d", code)
		}
		if got := s.waitStatus(t, run.ID, 3*time.Minute, StatusSucceeded, StatusFailed, StatusCancelled); got.Status != StatusSucceeded {
			t.Fatalf("run %d: %s %s", i+1, got.Status, got.Error)
		}
		if got := metric(); got != want {
			var arts RunArtifacts
			s.call(t, "GET", fmt.Sprintf("/api/v1/runs/%d/artifacts", run.ID), RoleViewer, nil, &arts)
			t.Errorf("after run %d, /metrics has\n%s\nwant\n%s\n(steps in the manifest: %+v)", i+1, got, want, arts.Builds)
		}
	}
}

// TestDatabaseDiskFull puts the SQLite database on a small tmpfs and
// fills it while a build runs: the run's log cannot be stored, so the
// build is stopped and cleans up (no container left); the server goes on
// answering reads; once space is freed the run is recorded as failed,
// saying the database's disk is full. (PostgreSQL keeps its files on its
// own server's disk, which a test cannot fill without a server of its
// own.)
func TestDatabaseDiskFull(t *testing.T) {
	mnt := tmpfs(t, 4<<20)
	s := startService(t, "sqlite:"+filepath.Join(mnt, "bake.db"), "http://127.0.0.1:9/unused")
	var run Run
	if code := s.call(t, "POST", "/api/v1/pipelines/slow/runs", RoleOperator, nil, &run); code != 201 {
		t.Fatalf("trigger: %d", code)
	}
	var bakeRunID string
	waitFor(t, 3*time.Minute, "the slow build to tick", func() bool {
		evs, _ := s.store.Events(context.Background(), run.ID, 0, 10000)
		for _, e := range evs {
			if strings.Contains(string(e.Body), "tick 1") {
				return true
			}
		}
		return false
	})
	bakeRunID = s.run(t, run.ID).BakeRunID
	filler := fillDisk(t, mnt, 0)
	waitFor(t, 2*time.Minute, "the build to be stopped", func() bool {
		return len(containersOf(t, bakeRunID)) == 0
	})
	// Reads go on while the disk is full.
	if got := s.run(t, run.ID); got.Status != StatusRunning {
		t.Logf("run while the disk is full: %s", got.Status)
	}
	if code := s.call(t, "GET", "/api/v1/runs", RoleViewer, nil, nil); code != 200 {
		t.Errorf("GET runs with the database's disk full: %d", code)
	}
	os.Remove(filler)
	got := s.waitStatus(t, run.ID, 2*time.Minute, StatusFailed, StatusSucceeded, StatusCancelled)
	want := "the disk holding the database is full: the run's log could not be stored, so the build was stopped and cleaned up (database or disk is full"
	if got.Status != StatusFailed || !strings.HasPrefix(got.Error, want) {
		t.Errorf("run = %s %q, want failed with %q", got.Status, got.Error, want)
	}
	t.Logf("error: %s", got.Error)
}
