package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// streamServer is the HTTP side alone on a new database of kind (no
// runner executes anything): the test plays the runner, appending and
// publishing events itself. It returns the server and a viewer token.
func streamServer(t *testing.T, kind string) (*Server, *Store, *Hub, string) {
	t.Helper()
	store, _ := testStore(t, kind)
	tok := NewToken()
	if err := store.CreateToken(context.Background(), "v", RoleViewer, HashToken(tok)); err != nil {
		t.Fatal(err)
	}
	hub := NewHub()
	cfg := &Config{Server: ServerConfig{MaxRuns: 1}}
	srv := NewServer(ServerOptions{Config: cfg, Store: store, Hub: hub, Runner: NewRunner(cfg, store, hub, RunnerOptions{}), Metrics: NewMetrics()})
	return srv, store, hub, tok
}

// TestEventStreamEnd checks that a run's event stream delivers every
// event, in order, up to the last one, in the two ways the live log lost
// its end: events reaching the hub out of order (a child's stdout and
// stderr are read by two goroutines) or not at all (a subscriber that
// fell behind), and a final "run" event the hub dropped; on SQLite and on
// PostgreSQL.
func TestEventStreamEnd(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			srv, store, hub, tok := streamServer(t, db)
			srv.ping = 200 * time.Millisecond
			hs := httptest.NewServer(srv)
			defer hs.Close()
			ctx := context.Background()
			for _, dropRun := range []bool{false, true} {
				run, err := store.CreateRun(ctx, "p", "test")
				if err != nil {
					t.Fatal(err)
				}
				store.StartRun(ctx, run.ID)
				add := func(typ, msg string) Event {
					body, _ := json.Marshal(map[string]string{"type": typ, "message": msg})
					ev, err := store.AppendEvent(ctx, run.ID, typ, "", time.Now(), body)
					if err != nil {
						t.Fatal(err)
					}
					return ev
				}
				add("run_started", "line 1")
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/runs/%d/events/stream", hs.URL, run.ID), nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				lines := readSSE(t, resp)
				var got []string
				next := func() Event {
					select {
					case d, ok := <-lines:
						if !ok {
							t.Fatalf("stream ended early after %v", got)
						}
						var ev Event
						json.Unmarshal([]byte(d), &ev)
						var b struct{ Message, Status string }
						json.Unmarshal(ev.Body, &b)
						got = append(got, ev.Type+" "+b.Message+b.Status)
						return ev
					case <-time.After(time.Minute):
						t.Fatalf("stream stuck after %v", got)
					}
					return Event{}
				}
				next() // the stored event
				next() // the run's state: the stream follows live now
				// Line 3 reaches the hub before line 2; line 4 never does.
				e2, e3 := add("output", "line 2"), add("output", "line 3")
				hub.Publish(run.ID, e3)
				hub.Publish(run.ID, e2)
				add("output", "line 4")
				e5 := add("run_finished", "line 5")
				hub.Publish(run.ID, e5)
				store.FinishRun(ctx, run.ID, StatusSucceeded, nil, "", "", "")
				if !dropRun {
					fin, _ := store.Run(ctx, run.ID)
					body, _ := json.Marshal(fin)
					hub.Publish(run.ID, Event{RunID: run.ID, Type: "run", Body: body})
				}
				for i := 0; i < 5; i++ {
					next()
				}
				want := fmt.Sprint([]string{"run_started line 1", "run running", "output line 2", "output line 3", "output line 4", "run_finished line 5", "run succeeded"})
				if fmt.Sprint(got) != want {
					t.Errorf("dropped run event %v: stream = %v\nwant %s", dropRun, got, want)
				}
				if d, ok := <-lines; ok {
					t.Errorf("the stream goes on after the run's end: %s", d)
				}
			}
		})
	}
}
