package server

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps runs, their events, tokens and webhook deliveries in
// PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// OpenStore connects to the PostgreSQL database dsn and applies the
// migrations it has not seen yet.
func OpenStore(ctx context.Context, dsn string) (*Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included.
		return nil, errors.New("database: cannot parse the connection string")
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// migrate applies the embedded migrations in order, each in a transaction,
// under an advisory lock so that two servers starting at once do not race.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer conn.Release()
	const lockID = 0x62616b65 // "bake"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockID)
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", v).Scan(&done); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if done {
			continue
		}
		sql, err := migrations.ReadFile(n)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

const runColumns = "id, pipeline, status, trigger, bake_run_id, git_commit, created_at, started_at, finished_at, exit_code, error, version, promoted"

func scanRun(row pgx.Row) (*Run, error) {
	var r Run
	err := row.Scan(&r.ID, &r.Pipeline, &r.Status, &r.Trigger, &r.BakeRunID, &r.Commit, &r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.ExitCode, &r.Error, &r.Version, &r.Promoted)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &r, err
}

// CreateRun records a new queued run of pipeline.
func (s *Store) CreateRun(ctx context.Context, pipeline, trigger string) (*Run, error) {
	return scanRun(s.pool.QueryRow(ctx, "INSERT INTO runs (pipeline, status, trigger) VALUES ($1, $2, $3) RETURNING "+runColumns, pipeline, StatusQueued, trigger))
}

// Run returns run id.
func (s *Store) Run(ctx context.Context, id int64) (*Run, error) {
	return scanRun(s.pool.QueryRow(ctx, "SELECT "+runColumns+" FROM runs WHERE id = $1", id))
}

// Runs returns the newest runs, of one pipeline when pipeline is not "",
// at most limit of them.
func (s *Store) Runs(ctx context.Context, pipeline string, limit int) ([]*Run, error) {
	q := "SELECT " + runColumns + " FROM runs WHERE ($1 = '' OR pipeline = $1) ORDER BY id DESC LIMIT $2"
	rows, err := s.pool.Query(ctx, q, pipeline, limit)
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

// RunsWithStatus returns the runs in status, oldest first.
func (s *Store) RunsWithStatus(ctx context.Context, status string) ([]*Run, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+runColumns+" FROM runs WHERE status = $1 ORDER BY id", status)
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

// StartRun marks run id running, unless it is no longer queued (a cancel
// got there first); it reports whether it did.
func (s *Store) StartRun(ctx context.Context, id int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, "UPDATE runs SET status = $2, started_at = now() WHERE id = $1 AND status = $3", id, StatusRunning, StatusQueued)
	return tag.RowsAffected() == 1, err
}

// SetRunFacts records what the run learnt while it went: the bake run id
// (for gc), the git commit.
func (s *Store) SetRunFacts(ctx context.Context, id int64, bakeRunID, commit string) error {
	_, err := s.pool.Exec(ctx, "UPDATE runs SET bake_run_id = CASE WHEN $2 = '' THEN bake_run_id ELSE $2 END, git_commit = CASE WHEN $3 = '' THEN git_commit ELSE $3 END WHERE id = $1", id, bakeRunID, commit)
	return err
}

// FinishRun records run id's end, unless it has one already.
func (s *Store) FinishRun(ctx context.Context, id int64, status string, exitCode *int, errText, version, promoted string) error {
	_, err := s.pool.Exec(ctx, `UPDATE runs SET status = $2, finished_at = now(), exit_code = $3, error = $4, version = $5, promoted = $6
		WHERE id = $1 AND status IN ('queued', 'running')`, id, status, exitCode, errText, version, promoted)
	return err
}

// CancelQueued marks a queued run cancelled and reports whether it was
// still queued.
func (s *Store) CancelQueued(ctx context.Context, id int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, "UPDATE runs SET status = $2, finished_at = now(), error = 'cancelled before it started' WHERE id = $1 AND status = $3", id, StatusCancelled, StatusQueued)
	return tag.RowsAffected() == 1, err
}

// AppendEvent stores ev as run's next event and returns it with its
// sequence number.
func (s *Store) AppendEvent(ctx context.Context, run int64, typ, build string, t time.Time, body json.RawMessage) (Event, error) {
	ev := Event{RunID: run, Time: t, Type: typ, Build: build, Body: body}
	err := s.pool.QueryRow(ctx, `INSERT INTO events (run_id, seq, time, type, build, body)
		VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = $1), $2, $3, $4, $5) RETURNING seq`,
		run, t, typ, build, body).Scan(&ev.Seq)
	return ev, err
}

// Events returns run's events after sequence number after, at most limit.
func (s *Store) Events(ctx context.Context, run int64, after, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, "SELECT seq, time, type, build, body FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3", run, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		ev := Event{RunID: run}
		if err := rows.Scan(&ev.Seq, &ev.Time, &ev.Type, &ev.Build, &ev.Body); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// CreateToken stores a token by its SHA-256.
func (s *Store) CreateToken(ctx context.Context, name, role, sha256hex string) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO tokens (name, role, sha256) VALUES ($1, $2, $3)", name, role, sha256hex)
	if err != nil && strings.Contains(err.Error(), "duplicate key") {
		return fmt.Errorf("a token named %q exists already", name)
	}
	return err
}

// TokenRole returns the name and role of the token whose SHA-256 is
// sha256hex, or ErrNotFound.
func (s *Store) TokenRole(ctx context.Context, sha256hex string) (name, role string, err error) {
	err = s.pool.QueryRow(ctx, "SELECT name, role FROM tokens WHERE sha256 = $1", sha256hex).Scan(&name, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	return name, role, err
}

// RecordDelivery stores one webhook delivery attempt.
func (s *Store) RecordDelivery(ctx context.Context, d Delivery) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO webhook_deliveries (run_id, url, event, idempotency_key, attempt, status_code, error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		d.RunID, d.URL, d.Event, d.IdempotencyKey, d.Attempt, d.StatusCode, d.Error)
	return err
}

// Deliveries returns run's webhook delivery attempts, oldest first.
func (s *Store) Deliveries(ctx context.Context, run int64) ([]Delivery, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, run_id, url, event, idempotency_key, attempt, status_code, error, time FROM webhook_deliveries WHERE run_id = $1 ORDER BY id", run)
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
	rows, err := s.pool.Query(ctx, "SELECT status, count(*) FROM runs GROUP BY status")
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
