package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStore runs every Store operation against SQLite and PostgreSQL and
// checks what the API later shows: ids, statuses, times, facts, events in
// order with their JSON intact, tokens, deliveries, counts.
func TestStore(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			s, _ := testStore(t, db)
			if s.Kind() != db {
				t.Fatalf("kind %q, want %q", s.Kind(), db)
			}
			before := time.Now().Add(-time.Second)
			a, err := s.CreateRun(ctx, "alpha", "api:ci")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := s.CreateRun(ctx, "beta", "schedule")
			c, _ := s.CreateRun(ctx, "alpha", "schedule")
			if a.ID == 0 || b.ID <= a.ID || c.ID <= b.ID || a.Status != StatusQueued || a.Trigger != "api:ci" || a.CreatedAt.Before(before) || a.StartedAt != nil || a.ExitCode != nil {
				t.Fatalf("created runs %+v %+v %+v", a, b, c)
			}
			if _, err := s.Run(ctx, c.ID+100); err != ErrNotFound {
				t.Errorf("missing run: %v, want ErrNotFound", err)
			}

			if ok, err := s.StartRun(ctx, a.ID); !ok || err != nil {
				t.Fatalf("start: %v %v", ok, err)
			}
			if ok, _ := s.StartRun(ctx, a.ID); ok {
				t.Error("a running run started again")
			}
			if err := s.SetRunFacts(ctx, a.ID, "0b5e1c3a-0000-4000-8000-000000000001", ""); err != nil {
				t.Fatal(err)
			}
			s.SetRunFacts(ctx, a.ID, "", "deadbeef")
			code := 0
			if err := s.FinishRun(ctx, a.ID, StatusSucceeded, &code, "", "alpha-1", "nightly"); err != nil {
				t.Fatal(err)
			}
			s.FinishRun(ctx, a.ID, StatusFailed, nil, "late", "", "") // a run ends once
			got, err := s.Run(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != StatusSucceeded || got.BakeRunID != "0b5e1c3a-0000-4000-8000-000000000001" || got.Commit != "deadbeef" ||
				got.ExitCode == nil || *got.ExitCode != 0 || got.Version != "alpha-1" || got.Promoted != "nightly" ||
				got.StartedAt == nil || got.FinishedAt == nil || got.FinishedAt.Before(*got.StartedAt) || got.StartedAt.Before(got.CreatedAt.Add(-time.Millisecond)) {
				t.Errorf("finished run = %+v", got)
			}

			if ok, _ := s.CancelQueued(ctx, b.ID); !ok {
				t.Error("cancel of a queued run said it was not queued")
			}
			if ok, _ := s.CancelQueued(ctx, a.ID); ok {
				t.Error("cancel of a finished run said it was queued")
			}
			if r, _ := s.Run(ctx, b.ID); r.Status != StatusCancelled || r.Error != "cancelled before it started" || r.FinishedAt == nil {
				t.Errorf("cancelled run = %+v", r)
			}

			runs, _ := s.Runs(ctx, "alpha", 10)
			if len(runs) != 2 || runs[0].ID != c.ID || runs[1].ID != a.ID {
				t.Errorf("alpha's runs: %v", ids(runs))
			}
			if runs, _ := s.Runs(ctx, "", 2); len(runs) != 2 || runs[0].ID != c.ID || runs[1].ID != b.ID {
				t.Errorf("newest two runs: %v", ids(runs))
			}
			if q, _ := s.RunsWithStatus(ctx, StatusQueued); len(q) != 1 || q[0].ID != c.ID {
				t.Errorf("queued: %v", ids(q))
			}
			counts, err := s.StatusCounts(ctx)
			if err != nil || counts[StatusQueued] != 1 || counts[StatusSucceeded] != 1 || counts[StatusCancelled] != 1 {
				t.Errorf("counts %v %v", counts, err)
			}

			at := time.Date(2026, 12, 2, 1, 2, 3, 456789000, time.UTC)
			body := json.RawMessage(`{"type":"output","build":"docker.base","message":"tick 1 \u00e9 \"quoted\""}`)
			ev, err := s.AppendEvent(ctx, a.ID, "output", "docker.base", at, body)
			if err != nil || ev.Seq != 1 {
				t.Fatalf("append: %+v %v", ev, err)
			}
			for i := 2; i <= 5; i++ {
				s.AppendEvent(ctx, a.ID, "server", "", at, json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)))
			}
			s.AppendEvent(ctx, c.ID, "server", "", at, json.RawMessage(`{}`))
			evs, err := s.Events(ctx, a.ID, 0, 100)
			if err != nil || len(evs) != 5 {
				t.Fatalf("events: %d %v", len(evs), err)
			}
			var m map[string]string
			if err := json.Unmarshal(evs[0].Body, &m); err != nil || m["message"] != `tick 1 é "quoted"` || evs[0].Build != "docker.base" || !evs[0].Time.Equal(at) {
				t.Errorf("first event = %+v (%v)", evs[0], err)
			}
			if page, _ := s.Events(ctx, a.ID, 2, 2); len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
				t.Errorf("page after 2: %+v", page)
			}
			if evs, _ := s.Events(ctx, c.ID, 0, 100); len(evs) != 1 || evs[0].Seq != 1 {
				t.Errorf("the other run's events: %+v", evs)
			}

			if err := s.CreateToken(ctx, "ci", RoleOperator, HashToken("t1")); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateToken(ctx, "ci", RoleViewer, HashToken("t2")); err == nil || !strings.Contains(err.Error(), `a token named "ci" exists already`) {
				t.Errorf("duplicate token name: %v", err)
			}
			if name, role, err := s.TokenRole(ctx, HashToken("t1")); name != "ci" || role != RoleOperator || err != nil {
				t.Errorf("token role: %q %q %v", name, role, err)
			}
			if _, _, err := s.TokenRole(ctx, HashToken("t2")); err != ErrNotFound {
				t.Errorf("unknown token: %v", err)
			}

			for i := 1; i <= 2; i++ {
				if err := s.RecordDelivery(ctx, Delivery{RunID: a.ID, URL: "http://127.0.0.1:9/h", Event: EventRunSucceeded, IdempotencyKey: "k1", Attempt: i, StatusCode: 499 + i, Error: map[int]string{1: "boom"}[i]}); err != nil {
					t.Fatal(err)
				}
			}
			ds, err := s.Deliveries(ctx, a.ID)
			if err != nil || len(ds) != 2 || ds[0].Attempt != 1 || ds[0].Error != "boom" || ds[1].StatusCode != 501 || ds[1].Time.IsZero() || ds[0].ID >= ds[1].ID {
				t.Errorf("deliveries: %+v %v", ds, err)
			}
		})
	}
}

func ids(runs []*Run) []int64 {
	var out []int64
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

// TestStoreConcurrentEvents appends events from many goroutines at once,
// as parallel runs do (and each run's stdout and stderr readers): none may
// fail (no SQLITE_BUSY, no duplicate sequence number on PostgreSQL), and
// each run's events are numbered 1..n without a gap.
func TestStoreConcurrentEvents(t *testing.T) {
	const runs, writersPerRun, perWriter = 6, 2, 150
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			s, _ := testStore(t, db)
			var ids []int64
			for i := 0; i < runs; i++ {
				r, err := s.CreateRun(ctx, "p", "test")
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, r.ID)
			}
			var wg sync.WaitGroup
			errs := make(chan error, runs*writersPerRun*perWriter)
			for _, id := range ids {
				for w := 0; w < writersPerRun; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < perWriter; i++ {
							if _, err := s.AppendEvent(ctx, id, "output", "b", time.Now(), json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))); err != nil {
								errs <- err
							}
						}
					}()
				}
				// Readers beside the writers, as the API and streams are.
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 20; i++ {
						if _, err := s.Events(ctx, id, 0, 1000); err != nil {
							errs <- err
						}
						if _, err := s.Run(ctx, id); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for _, id := range ids {
				evs, err := s.Events(ctx, id, 0, 10000)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != writersPerRun*perWriter {
					t.Errorf("run %d has %d events, want %d", id, len(evs), writersPerRun*perWriter)
				}
				for i, e := range evs {
					if e.Seq != i+1 {
						t.Errorf("run %d: event %d has seq %d", id, i, e.Seq)
						break
					}
				}
			}
		})
	}
}

// TestStoreExclusive: a second exclusive opener (a second server) is
// refused with an error that says what is wrong and who holds it, while
// `bake token create` (not exclusive) still opens beside the server; once
// the first closes, a server may open again. On SQLite the data survives
// a reopen (migrations are not applied twice).
func TestStoreExclusive(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			setting := testDatabase(t, db)
			first, err := OpenStore(ctx, setting, StoreOptions{Exclusive: true})
			if err != nil {
				t.Fatal(err)
			}
			run, _ := first.CreateRun(ctx, "p", "test")
			_, err = OpenStore(ctx, setting, StoreOptions{Exclusive: true})
			if err == nil || !strings.Contains(err.Error(), "in use by another bake serve") {
				first.Close()
				t.Fatalf("second server: %v", err)
			}
			if db == DatabaseSQLite && (!strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(err.Error(), ".db.lock")) {
				t.Errorf("the refusal names neither the holder nor the lock file: %v", err)
			}
			t.Logf("refused: %v", err)
			tok, err := OpenStore(ctx, setting, StoreOptions{})
			if err != nil {
				t.Fatalf("token create beside a server: %v", err)
			}
			if err := tok.CreateToken(ctx, "late", RoleViewer, HashToken("x")); err != nil {
				t.Error(err)
			}
			tok.Close()
			if _, role, err := first.TokenRole(ctx, HashToken("x")); role != RoleViewer || err != nil {
				t.Errorf("the server does not see the token created beside it: %q %v", role, err)
			}
			first.Close()
			again, err := OpenStore(ctx, setting, StoreOptions{Exclusive: true})
			if err != nil {
				t.Fatalf("a server after the first closed: %v", err)
			}
			defer again.Close()
			if r, err := again.Run(ctx, run.ID); err != nil || r.Pipeline != "p" {
				t.Errorf("run after reopen: %+v %v", r, err)
			}
		})
	}
}

// TestSQLiteFile: the database is created with its directory, in WAL
// mode, at a path with characters a URI would misread.
func TestSQLiteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd ?#% dir", "sub")
	path := filepath.Join(dir, "runs.db")
	s, err := OpenStore(context.Background(), "sqlite:"+path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateRun(context.Background(), "p", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no database file at the configured path: %v", err)
	}
	var mode string
	if err := s.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q %v, want wal", mode, err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no WAL file beside the database: %v", err)
	}
}

func TestParseDatabase(t *testing.T) {
	for _, c := range []struct{ in, kind, target, err string }{
		{"sqlite:/var/lib/bake/bake.db", DatabaseSQLite, "/var/lib/bake/bake.db", ""},
		{"sqlite:rel/bake.db", DatabaseSQLite, "rel/bake.db", ""},
		{"postgres://u:pw@db/bake", DatabasePostgres, "postgres://u:pw@db/bake", ""},
		{"postgresql://db/bake", DatabasePostgres, "postgresql://db/bake", ""},
		{"host=/run/postgresql dbname=bake", DatabasePostgres, "host=/run/postgresql dbname=bake", ""},
		{"sqlite:", "", "", "needs a file path"},
		{"sqlite::memory:", "", "", "in-memory"},
		{"mysql://u:secret@db/bake", "", "", `"sqlite:PATH" or a PostgreSQL URL`},
		{"", "", "", `"sqlite:PATH" or a PostgreSQL URL`},
	} {
		kind, target, err := ParseDatabase(c.in)
		if kind != c.kind || target != c.target || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseDatabase(%q) = %q, %q, %v", c.in, kind, target, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error repeats the setting: %v", err)
		}
	}
}

func FuzzParseDatabase(f *testing.F) {
	for _, s := range []string{"sqlite:/x.db", "sqlite:", "postgres://u:pw@h/db", "host=h password=pw", "mysql://u:pw@h", "sqlite:file:x?mode=memory"} {
		f.Add(s)
	}
	fixed := map[string]bool{}
	for _, s := range []string{"", "sqlite:", "sqlite::memory:", "sqlite:a\x00b"} {
		_, _, err := ParseDatabase(s)
		fixed[err.Error()] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, target, err := ParseDatabase(s)
		if err != nil {
			if kind != "" || target != "" {
				t.Fatalf("error and a result: %q %q %v", kind, target, err)
			}
			// The error is one of a few fixed texts: it cannot repeat
			// the setting (and a password in it).
			if !fixed[err.Error()] {
				t.Fatalf("error %q is not one of the fixed texts", err)
			}
			return
		}
		switch kind {
		case DatabaseSQLite:
			if "sqlite:"+target != s || target == "" {
				t.Fatalf("sqlite target %q from %q", target, s)
			}
		case DatabasePostgres:
			if target != s {
				t.Fatalf("postgres target %q from %q", target, s)
			}
		default:
			t.Fatalf("kind %q", kind)
		}
	})
}
