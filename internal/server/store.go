package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Run statuses, as the API reports them.
const (
	StatusQueued      = "queued"
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusCancelled   = "cancelled"
	StatusInterrupted = "interrupted"
)

// Statuses lists every run status, for metrics.
var Statuses = []string{StatusQueued, StatusRunning, StatusSucceeded, StatusFailed, StatusCancelled, StatusInterrupted}

// Run is one execution of a pipeline.
type Run struct {
	ID         int64      `json:"id"`
	Pipeline   string     `json:"pipeline"`
	Status     string     `json:"status"`
	Trigger    string     `json:"trigger"`
	BakeRunID  string     `json:"bake_run_id,omitempty"`
	Commit     string     `json:"git_commit,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	Error      string     `json:"error,omitempty"`
	Version    string     `json:"version,omitempty"`
	Promoted   string     `json:"promoted,omitempty"`
}

// Finished reports whether r is in a final status.
func (r *Run) Finished() bool {
	switch r.Status {
	case StatusQueued, StatusRunning:
		return false
	}
	return true
}

// Duration is how long r ran (so far).
func (r *Run) Duration() time.Duration {
	if r.StartedAt == nil {
		return 0
	}
	end := time.Now()
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	return end.Sub(*r.StartedAt).Round(time.Second)
}

// Event is one stored event of a run: a `bake build -json` event as the
// child printed it, or one the server adds (type "server": fetch,
// publish, promote, exit).
type Event struct {
	RunID int64           `json:"run_id"`
	Seq   int             `json:"seq"`
	Time  time.Time       `json:"time"`
	Type  string          `json:"type"`
	Build string          `json:"build,omitempty"`
	Body  json.RawMessage `json:"event"`
}

// Delivery is one attempt to deliver a webhook.
type Delivery struct {
	ID             int64     `json:"id"`
	RunID          int64     `json:"run_id"`
	URL            string    `json:"url"`
	Event          string    `json:"event"`
	IdempotencyKey string    `json:"idempotency_key"`
	Attempt        int       `json:"attempt"`
	StatusCode     int       `json:"status_code"`
	Error          string    `json:"error,omitempty"`
	Time           time.Time `json:"time"`
}

// ErrNotFound is returned for a run (or token) that does not exist.
var ErrNotFound = errors.New("not found")

const runColumns = "id, pipeline, status, trigger, bake_run_id, git_commit, created_at, started_at, finished_at, exit_code, error, version, promoted"

type scanner interface{ Scan(dest ...any) error }

func scanRun(row scanner) (*Run, error) {
	var r Run
	err := row.Scan(&r.ID, &r.Pipeline, &r.Status, &r.Trigger, &r.BakeRunID, &r.Commit, &r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.ExitCode, &r.Error, &r.Version, &r.Promoted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &r, err
}

func scanRuns(rows *sql.Rows, err error) ([]*Run, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// now is the time a statement records: taken here rather than by the
// database, so that both dialects store the same thing.
func now() time.Time { return time.Now().UTC() }

// CreateRun records a new queued run of pipeline.
func (s *Store) CreateRun(ctx context.Context, pipeline, trigger string) (*Run, error) {
	return scanRun(s.w.QueryRowContext(ctx, s.q("INSERT INTO runs (pipeline, status, trigger, created_at) VALUES ($1, $2, $3, $4) RETURNING "+runColumns), pipeline, StatusQueued, trigger, now()))
}

// Run returns run id.
func (s *Store) Run(ctx context.Context, id int64) (*Run, error) {
	return scanRun(s.r.QueryRowContext(ctx, s.q("SELECT "+runColumns+" FROM runs WHERE id = $1"), id))
}

// Runs returns the newest runs, of one pipeline when pipeline is not "",
// at most limit of them.
func (s *Store) Runs(ctx context.Context, pipeline string, limit int) ([]*Run, error) {
	if pipeline == "" {
		return scanRuns(s.r.QueryContext(ctx, s.q("SELECT "+runColumns+" FROM runs ORDER BY id DESC LIMIT $1"), limit))
	}
	return scanRuns(s.r.QueryContext(ctx, s.q("SELECT "+runColumns+" FROM runs WHERE pipeline = $1 ORDER BY id DESC LIMIT $2"), pipeline, limit))
}

// RunsWithStatus returns the runs in status, oldest first.
func (s *Store) RunsWithStatus(ctx context.Context, status string) ([]*Run, error) {
	return scanRuns(s.r.QueryContext(ctx, s.q("SELECT "+runColumns+" FROM runs WHERE status = $1 ORDER BY id"), status))
}

// changed reports whether an UPDATE touched exactly one row.
func changed(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// StartRun marks run id running, unless it is no longer queued (a cancel
// got there first); it reports whether it did.
func (s *Store) StartRun(ctx context.Context, id int64) (bool, error) {
	return changed(s.w.ExecContext(ctx, s.q("UPDATE runs SET status = $2, started_at = $4 WHERE id = $1 AND status = $3"), id, StatusRunning, StatusQueued, now()))
}

// SetRunFacts records what the run learnt while it went: the bake run id
// (for gc), the git commit.
func (s *Store) SetRunFacts(ctx context.Context, id int64, bakeRunID, commit string) error {
	_, err := s.w.ExecContext(ctx, s.q("UPDATE runs SET bake_run_id = CASE WHEN $2 = '' THEN bake_run_id ELSE $2 END, git_commit = CASE WHEN $3 = '' THEN git_commit ELSE $3 END WHERE id = $1"), id, bakeRunID, commit)
	return err
}

// FinishRun records run id's end, unless it has one already.
func (s *Store) FinishRun(ctx context.Context, id int64, status string, exitCode *int, errText, version, promoted string) error {
	_, err := s.w.ExecContext(ctx, s.q(`UPDATE runs SET status = $2, finished_at = $7, exit_code = $3, error = $4, version = $5, promoted = $6
		WHERE id = $1 AND status IN ('queued', 'running')`), id, status, exitCode, errText, version, promoted, now())
	return err
}

// CancelQueued marks a queued run cancelled and reports whether it was
// still queued.
func (s *Store) CancelQueued(ctx context.Context, id int64) (bool, error) {
	return changed(s.w.ExecContext(ctx, s.q("UPDATE runs SET status = $2, finished_at = $4, error = 'cancelled before it started' WHERE id = $1 AND status = $3"), id, StatusCancelled, StatusQueued, now()))
}

// AppendEvent stores ev as run's next event and returns it with its
// sequence number. Appends to one run may come from several goroutines
// (a child's stdout and stderr): on PostgreSQL two of them can pick the
// same next number, and the loser tries again.
func (s *Store) AppendEvent(ctx context.Context, run int64, typ, build string, t time.Time, body json.RawMessage) (Event, error) {
	ev := Event{RunID: run, Time: t, Type: typ, Build: build, Body: body}
	q := s.q(`INSERT INTO events (run_id, seq, time, type, build, body)
		VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = $1), $2, $3, $4, $5) RETURNING seq`)
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		err = s.w.QueryRowContext(ctx, q, run, t.UTC(), typ, build, string(body)).Scan(&ev.Seq)
		if err == nil || !s.d.uniqueViolation(err) {
			break
		}
	}
	return ev, err
}

// Events returns run's events after sequence number after, at most limit.
func (s *Store) Events(ctx context.Context, run int64, after, limit int) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT seq, time, type, build, body FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"), run, after, limit)
	return scanEvents(run, rows, err)
}

// maxSeq is above every sequence number (seq is a 32-bit INTEGER on
// PostgreSQL).
const maxSeq = 1<<31 - 1

// EventsBefore returns run's last limit events with a sequence number
// below before (before <= 0: the run's last limit events), in order: the
// tail of a log, and the page before a page.
func (s *Store) EventsBefore(ctx context.Context, run int64, before, limit int) ([]Event, error) {
	if before <= 0 || before > maxSeq {
		before = maxSeq
	}
	rows, err := s.r.QueryContext(ctx, s.q("SELECT seq, time, type, build, body FROM events WHERE run_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"), run, before, limit)
	evs, err := scanEvents(run, rows, err)
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs, err
}

// BuildEvents returns run's events about its builds and steps
// (build_started, step_started, build_finished), in order: what the run
// page's builds table is made of, however long the log.
func (s *Store) BuildEvents(ctx context.Context, run int64) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT seq, time, type, build, body FROM events WHERE run_id = $1 AND type IN ('build_started', 'step_started', 'build_finished') ORDER BY seq"), run)
	return scanEvents(run, rows, err)
}

func scanEvents(run int64, rows *sql.Rows, err error) ([]Event, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		ev := Event{RunID: run}
		var body []byte
		if err := rows.Scan(&ev.Seq, &ev.Time, &ev.Type, &ev.Build, &body); err != nil {
			return nil, err
		}
		ev.Body = body
		out = append(out, ev)
	}
	return out, rows.Err()
}

// CreateToken stores a token by its SHA-256.
func (s *Store) CreateToken(ctx context.Context, name, role, sha256hex string) error {
	_, err := s.w.ExecContext(ctx, s.q("INSERT INTO tokens (name, role, sha256, created_at) VALUES ($1, $2, $3, $4)"), name, role, sha256hex, now())
	if err != nil && s.d.uniqueViolation(err) {
		return fmt.Errorf("a token named %q exists already", name)
	}
	return err
}

// TokenRole returns the name and role of the token whose SHA-256 is
// sha256hex, or ErrNotFound.
func (s *Store) TokenRole(ctx context.Context, sha256hex string) (name, role string, err error) {
	err = s.r.QueryRowContext(ctx, s.q("SELECT name, role FROM tokens WHERE sha256 = $1"), sha256hex).Scan(&name, &role)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	return name, role, err
}

// RecordDelivery stores one webhook delivery attempt.
func (s *Store) RecordDelivery(ctx context.Context, d Delivery) error {
	_, err := s.w.ExecContext(ctx, s.q("INSERT INTO webhook_deliveries (run_id, url, event, idempotency_key, attempt, status_code, error, time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
		d.RunID, d.URL, d.Event, d.IdempotencyKey, d.Attempt, d.StatusCode, d.Error, now())
	return err
}

// Deliveries returns run's webhook delivery attempts, oldest first.
func (s *Store) Deliveries(ctx context.Context, run int64) ([]Delivery, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT id, run_id, url, event, idempotency_key, attempt, status_code, error, time FROM webhook_deliveries WHERE run_id = $1 ORDER BY id"), run)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.RunID, &d.URL, &d.Event, &d.IdempotencyKey, &d.Attempt, &d.StatusCode, &d.Error, &d.Time); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// StatusCounts returns how many runs are in each status.
func (s *Store) StatusCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT status, count(*) FROM runs GROUP BY status")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}
