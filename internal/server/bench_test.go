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
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
)

// The targets: API p99 under 50 ms with 10,000 runs and 1,000,000
// events in the database; an idle server's RSS at most 40 MB. These
// benchmarks report the figures (p99-ms, rss-MB); they assert nothing
// about time.
const (
	benchRuns         = 10_000
	benchEventsPerRun = 100 // 1,000,000 events
)

var benchDB struct {
	once    sync.Once
	dir     string
	setting string
	err     error
}

// benchDatabase fills a SQLite database with benchRuns finished runs of
// five pipelines and benchEventsPerRun events each, once per test binary,
// in one transaction (the Store's own writes, one at a time, are what the
// runner does; here the point is the size).
func benchDatabase(b *testing.B) string {
	b.Helper()
	benchDB.once.Do(func() {
		dir, err := os.MkdirTemp("", "bake-serve-bench-")
		if err != nil {
			benchDB.err = err
			return
		}
		benchDB.dir = dir
		benchDB.setting = "sqlite:" + filepath.Join(dir, "bake.db")
		start := time.Now()
		s, err := OpenStore(context.Background(), benchDB.setting, StoreOptions{})
		if err != nil {
			benchDB.err = err
			return
		}
		defer s.Close()
		benchDB.err = fillBench(s)
		fi, _ := os.Stat(filepath.Join(dir, "bake.db"))
		var size int64
		if fi != nil {
			size = fi.Size()
		}
		fmt.Fprintf(os.Stderr, "bench database: %d runs, %d events, %d MB, filled in %s\n", benchRuns, benchRuns*benchEventsPerRun, size>>20, time.Since(start).Round(time.Millisecond))
	})
	if benchDB.err != nil {
		b.Fatal(benchDB.err)
	}
	return benchDB.setting
}

func fillBench(s *Store) error {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	runStmt, err := tx.PrepareContext(ctx, s.q("INSERT INTO runs (pipeline, status, trigger, created_at, started_at, finished_at, exit_code, bake_run_id) VALUES ($1, $2, 'schedule', $3, $3, $4, 0, $5)"))
	if err != nil {
		return err
	}
	evStmt, err := tx.PrepareContext(ctx, s.q("INSERT INTO events (run_id, seq, time, type, build, body) VALUES ($1, $2, $3, $4, 'docker.base', $5)"))
	if err != nil {
		return err
	}
	t0 := time.Now().UTC().Add(-benchRuns * time.Minute)
	for i := 1; i <= benchRuns; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		status := StatusSucceeded
		if i%7 == 0 {
			status = StatusFailed
		}
		res, err := runStmt.ExecContext(ctx, fmt.Sprintf("pipeline-%d", i%5), status, at, at.Add(40*time.Second), fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
		if err != nil {
			return err
		}
		id, _ := res.LastInsertId()
		for seq := 1; seq <= benchEventsPerRun; seq++ {
			body := fmt.Sprintf(`{"type":"output","build":"docker.base","message":"line %d of run %d: Setting up libfoo (1.2.3-1) ..."}`, seq, id)
			if _, err := evStmt.ExecContext(ctx, id, seq, at.Add(time.Duration(seq)*100*time.Millisecond), "output", body); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// BenchmarkAPI measures the API's answers on the full database through a
// real HTTP server while two runs append events (as live builds do), and
// reports each endpoint's p50 and p99.
func BenchmarkAPI(b *testing.B) {
	setting := benchDatabase(b)
	store, err := OpenStore(context.Background(), setting, StoreOptions{Exclusive: true})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	var pipelines []*Pipeline
	for i := 0; i < 5; i++ {
		pipelines = append(pipelines, &Pipeline{Name: fmt.Sprintf("pipeline-%d", i), Template: "/nonexistent.pkr.hcl", Concurrency: 1, Timeout: time.Hour})
	}
	cfg := &Config{Server: ServerConfig{MaxRuns: 2}, Pipelines: pipelines}
	token := NewToken()
	cfg.Server.Tokens = []ConfigToken{{Name: "bench", Role: RoleViewer, SHA256: HashToken(token)}}
	hub := NewHub()
	runner := NewRunner(cfg, store, hub, RunnerOptions{Bake: "/bin/false"})
	srv := httptest.NewServer(NewServer(ServerOptions{Config: cfg, Store: store, Hub: hub, Runner: runner, Metrics: NewMetrics()}))
	defer srv.Close()

	// Two live runs appending events throughout.
	ctx, stop := context.WithCancel(context.Background())
	var writers sync.WaitGroup
	var appended int
	var mu sync.Mutex
	for w := 0; w < 2; w++ {
		run, err := store.CreateRun(ctx, "pipeline-0", "bench")
		if err != nil {
			b.Fatal(err)
		}
		writers.Add(1)
		go func() {
			defer writers.Done()
			for ctx.Err() == nil {
				if _, err := store.AppendEvent(ctx, run.ID, "output", "docker.base", time.Now(), json.RawMessage(`{"type":"output","message":"tick"}`)); err == nil {
					mu.Lock()
					appended++
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	defer func() { stop(); writers.Wait() }()

	client := srv.Client()
	get := func(b *testing.B, path string) time.Duration {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return d
	}
	for _, c := range []struct{ name, path string }{
		{"runs", "/api/v1/runs"},
		{"runs-of-pipeline", "/api/v1/runs?pipeline=pipeline-3&limit=100"},
		{"run", "/api/v1/runs/%d"},
		{"events", "/api/v1/runs/%d/events"},
		{"events-page", "/api/v1/runs/%d/events?after=50&limit=25"},
		{"pipelines", "/api/v1/pipelines"},
		{"metrics", "/metrics"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				path := c.path
				if strings.Contains(path, "%d") {
					path = fmt.Sprintf(path, 1+(i*7919)%benchRuns)
				}
				lat = append(lat, get(b, path))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
	mu.Lock()
	b.Logf("events appended by the two live runs meanwhile: %d", appended)
	mu.Unlock()
}

// BenchmarkIdleRSS starts `bake serve` on the full database with five
// pipelines, lets it settle, and reports its resident memory: all of it
// (VmRSS, rss-MB), the private part (RssAnon, anon-MB) and the clean
// pages of the binary file (RssFile, file-MB), shared and reclaimable:
// the median of each over the iterations, and the largest VmRSS
// (rss-max-MB; how many binary pages the kernel maps around a fault
// depends on the page cache, so VmRSS varies by a few MB run to run).
// The server drops the binary pages its start touched (see
// ReleaseStartupPages): without that, file-MB alone was 30-41 MB.
func BenchmarkIdleRSS(b *testing.B) {
	setting := benchDatabase(b)
	bin := bakebin.Path(b)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "image.pkr.hcl"), []byte(testTemplate), 0o644); err != nil {
		b.Fatal(err)
	}
	addr := freeAddr(b)
	cfg := fmt.Sprintf("server {\n  listen = %q\n  database = %q\n  state_dir = %q\n}\n", addr, setting, filepath.Join(dir, "state"))
	for i := 0; i < 5; i++ {
		cfg += fmt.Sprintf("pipeline \"pipeline-%d\" {\n  template = \"image.pkr.hcl\"\n  schedule = \"@daily\"\n}\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.hcl"), []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	var rss, anon, files []float64
	for b.Loop() {
		cmd := exec.Command(bin, "serve", "-config", filepath.Join(dir, "server.hcl"))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				b.Fatal("bake serve did not answer")
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // idle
		total, private, file := procKB(cmd.Process.Pid, "VmRSS:"), procKB(cmd.Process.Pid, "RssAnon:"), procKB(cmd.Process.Pid, "RssFile:")
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if total == 0 {
			b.Fatal("no VmRSS")
		}
		rss = append(rss, float64(total)/1024)
		anon = append(anon, float64(private)/1024)
		files = append(files, float64(file)/1024)
	}
	sort.Float64s(rss)
	sort.Float64s(anon)
	sort.Float64s(files)
	b.ReportMetric(rss[len(rss)-1], "rss-max-MB")
	b.ReportMetric(rss[len(rss)/2], "rss-MB")
	b.ReportMetric(anon[len(anon)/2], "anon-MB")
	b.ReportMetric(files[len(files)/2], "file-MB")
}

// procKB reads a "NAME: N kB" line of /proc/PID/status.
func procKB(pid int, name string) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// longLog is the length of the long log the run page must cope with.
const longLog = 50_000

// longLogRun stores a finished run of one docker build whose log has n
// output lines ("line I of N"), in one transaction, and returns its id.
func longLogRun(tb testing.TB, s *Store, n int) int64 {
	tb.Helper()
	ctx := context.Background()
	run, err := s.CreateRun(ctx, "long", "test")
	if err != nil {
		tb.Fatal(err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, s.q("INSERT INTO events (run_id, seq, time, type, build, body) VALUES ($1, $2, $3, $4, $5, $6)"))
	if err != nil {
		tb.Fatal(err)
	}
	t0 := time.Now().UTC().Add(-time.Hour)
	add := func(seq int, typ, build, body string) {
		if _, err := st.ExecContext(ctx, run.ID, seq, t0.Add(time.Duration(seq)*time.Millisecond), typ, build, body); err != nil {
			tb.Fatal(err)
		}
	}
	add(1, "build_started", "docker.base", `{"type":"build_started","build":"docker.base"}`)
	add(2, "step_started", "docker.base", `{"type":"step_started","build":"docker.base","step":"shell"}`)
	for i := 1; i <= n-3; i++ {
		add(i+2, "output", "docker.base", fmt.Sprintf(`{"type":"output","build":"docker.base","message":"line %d of %d"}`, i, n))
	}
	add(n, "build_finished", "docker.base", fmt.Sprintf(`{"type":"build_finished","build":"docker.base","status":"succeeded","elapsed_seconds":42,"message":"line %d of %d"}`, n, n))
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	s.StartRun(ctx, run.ID)
	if err := s.FinishRun(ctx, run.ID, StatusSucceeded, nil, "", "", ""); err != nil {
		tb.Fatal(err)
	}
	return run.ID
}

// BenchmarkRunPage measures, on SQLite and on PostgreSQL, the run page of
// a run whose log has 50,000 lines (it shows the last logTail) and a page
// of its log through the API (the "earlier lines" link), and reports p50
// and p99 and the page's size.
func BenchmarkRunPage(b *testing.B) {
	for _, db := range databases {
		b.Run(db, func(b *testing.B) {
			var setting string
			if db == DatabaseSQLite {
				setting = "sqlite:" + filepath.Join(b.TempDir(), "bake.db")
			} else {
				setting = testDSN(b)
			}
			store, err := OpenStore(context.Background(), setting, StoreOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			tok := NewToken()
			store.CreateToken(context.Background(), "bench", RoleViewer, HashToken(tok))
			id := longLogRun(b, store, longLog)
			hub := NewHub()
			cfg := &Config{Server: ServerConfig{MaxRuns: 1}}
			srv := httptest.NewServer(NewServer(ServerOptions{Config: cfg, Store: store, Hub: hub, Runner: NewRunner(cfg, store, hub, RunnerOptions{}), Metrics: NewMetrics()}))
			defer srv.Close()
			for _, c := range []struct{ name, path string }{
				{"run-page", fmt.Sprintf("/runs/%d", id)},
				{"log-page", fmt.Sprintf("/api/v1/runs/%d/events?before=%d&limit=1000", id, longLog-logTail+1)},
			} {
				b.Run(c.name, func(b *testing.B) {
					var lat []time.Duration
					var size int64
					for b.Loop() {
						req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
						req.Header.Set("Authorization", "Bearer "+tok)
						start := time.Now()
						resp, err := srv.Client().Do(req)
						if err != nil {
							b.Fatal(err)
						}
						size, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						lat = append(lat, time.Since(start))
						if err != nil || resp.StatusCode != 200 {
							b.Fatalf("GET %s: %d %v", c.path, resp.StatusCode, err)
						}
					}
					sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
					pct := func(p float64) float64 {
						return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
					}
					b.ReportMetric(pct(0.50), "p50-ms")
					b.ReportMetric(pct(0.99), "p99-ms")
					b.ReportMetric(float64(size)/1024, "KB")
				})
			}
		})
	}
}
