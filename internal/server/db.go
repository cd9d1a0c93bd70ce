package server

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Database kinds, as ParseDatabase names them.
const (
	DatabaseSQLite   = "sqlite"
	DatabasePostgres = "postgres"
)

// DatabaseForms names the two accepted forms of the database setting, for
// error messages.
const DatabaseForms = `"sqlite:PATH" or a PostgreSQL URL "postgres://USER@HOST/DB" (or key=value DSN)`

// ParseDatabase splits the server block's database setting into its kind
// and target: "sqlite:PATH" is SQLite at PATH; "postgres://…",
// "postgresql://…" and a key=value DSN with host= are PostgreSQL. Its
// errors never repeat the setting, which may hold a password.
func ParseDatabase(setting string) (kind, target string, err error) {
	switch {
	case strings.HasPrefix(setting, "sqlite:"):
		p := strings.TrimPrefix(setting, "sqlite:")
		switch {
		case p == "":
			return "", "", errors.New(`sqlite: needs a file path, as in "sqlite:/var/lib/bake/bake.db"`)
		case p == ":memory:" || strings.HasPrefix(p, "file:"):
			return "", "", errors.New("sqlite: takes a file path (an in-memory database would lose every run at restart)")
		case strings.ContainsRune(p, 0):
			return "", "", errors.New("sqlite: the path has a NUL byte")
		}
		return DatabaseSQLite, p, nil
	case strings.HasPrefix(setting, "postgres://"), strings.HasPrefix(setting, "postgresql://"), strings.Contains(setting, "host="):
		return DatabasePostgres, setting, nil
	}
	return "", "", fmt.Errorf("database must be %s", DatabaseForms)
}

// dialect is what differs between the two databases in the statements the
// Store sends. Statements are written with PostgreSQL's $N placeholders.
type dialect string

// q rewrites a statement for d: SQLite spells $N as ?N (the same numbered
// parameter, reusable).
func (d dialect) q(query string) string {
	if d == DatabaseSQLite {
		return strings.ReplaceAll(query, "$", "?")
	}
	return query
}

// uniqueViolation reports whether err is a unique or primary key
// constraint failure.
func (d dialect) uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// StoreOptions are how a Store is opened.
type StoreOptions struct {
	// Exclusive is for the server: while the store is open no other
	// exclusive store may open the same database (a lock file beside a
	// SQLite database; a session advisory lock on PostgreSQL). `bake token
	// create` opens without it, beside a running server.
	Exclusive bool
}

// Store keeps runs, their events, tokens and webhook deliveries in SQLite
// or PostgreSQL. It is safe for concurrent use.
type Store struct {
	d dialect
	// w takes the writes and r the reads. On SQLite w is one connection, so
	// that writers queue in Go instead of meeting SQLITE_BUSY, and r is a
	// pool of read-only connections that WAL lets read beside the writer.
	// On PostgreSQL both are the same pool.
	w, r *sql.DB
	lock io.Closer
}

// Kind returns DatabaseSQLite or DatabasePostgres.
func (s *Store) Kind() string { return string(s.d) }

func (s *Store) q(query string) string { return s.d.q(query) }

// OpenStore opens the database named by setting (see ParseDatabase),
// creating a SQLite file and its directory when they do not exist, and
// applies the migrations it has not seen yet.
func OpenStore(ctx context.Context, setting string, o StoreOptions) (*Store, error) {
	kind, target, err := ParseDatabase(setting)
	if err != nil {
		return nil, err
	}
	var s *Store
	if kind == DatabaseSQLite {
		s, err = openSQLite(ctx, target, o)
	} else {
		s, err = openPostgres(ctx, target, o)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections and releases the exclusive lock.
func (s *Store) Close() {
	if s.lock != nil {
		s.lock.Close()
	}
	if s.r != s.w {
		s.r.Close()
	}
	s.w.Close()
}

// sqliteURI is path as a SQLite file: URI with the connection settings:
// WAL (readers do not block the writer), a busy timeout (a second process
// such as `bake token create` waits rather than fails), transactions that
// take the write lock when they begin (no upgrade deadlock), foreign keys,
// and times written in a format SQLite's date functions read.
func sqliteURI(path string, readOnly bool) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	u := "file:" + esc + "?_txlock=immediate&_time_format=sqlite&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	if readOnly {
		u += "&_query_only=1"
	}
	return u
}

func openSQLite(ctx context.Context, path string, o StoreOptions) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database sqlite:%s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("database sqlite:%s: %w", abs, err)
	}
	s := &Store{d: DatabaseSQLite}
	if o.Exclusive {
		l, err := lockFile(abs)
		if err != nil {
			return nil, err
		}
		s.lock = l
	}
	s.w, _ = sql.Open("sqlite", sqliteURI(abs, false)) // sql.Open only records the name
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.r, _ = sql.Open("sqlite", sqliteURI(abs, true))
	n := max(4, runtime.NumCPU())
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	if err := s.w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("database sqlite:%s: %w", abs, err)
	}
	return s, nil
}

// lockFile takes an exclusive flock on DB.lock beside the database db, and
// writes this process's id into it so that the refusal can name the
// holder. The kernel drops the lock when the process dies, however it
// dies.
func lockFile(db string) (*os.File, error) {
	path := db + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("database sqlite:%s: lock file: %w", db, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another bake serve"
			if pid := strings.TrimSpace(string(holder)); pid != "" {
				who += " (pid " + pid + ")"
			}
			return nil, fmt.Errorf("database sqlite:%s is in use by %s: two servers cannot share one SQLite database (lock %s)", db, who, path)
		}
		return nil, fmt.Errorf("database sqlite:%s: lock %s: %w", db, path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// serverLockID is the PostgreSQL advisory lock an exclusive store holds;
// migrateLockID the one migrations take.
const (
	serverLockID  = 0x62616b66 // "bakf"
	migrateLockID = 0x62616b65 // "bake"
)

func openPostgres(ctx context.Context, dsn string, o StoreOptions) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included.
		return nil, errors.New("database: cannot parse the PostgreSQL connection string")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	s := &Store{d: DatabasePostgres, w: db, r: db}
	if o.Exclusive {
		// The lock belongs to one session: that connection is kept out of
		// the pool until Close.
		conn, err := db.Conn(ctx)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("database: %w", err)
		}
		var ok bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", serverLockID).Scan(&ok); err != nil || !ok {
			conn.Close()
			db.Close()
			if err != nil {
				return nil, fmt.Errorf("database: %w", err)
			}
			return nil, fmt.Errorf("database %s/%s is in use by another bake serve: two servers cannot share one database", cfg.Host, cfg.Database)
		}
		s.lock = pgLock{conn}
	}
	return s, nil
}

// pgLock is the session holding serverLockID. Close unlocks before it
// lets the connection go: a closed connection's locks are released only
// when its backend notices, which a server starting right after could
// beat.
type pgLock struct{ conn *sql.Conn }

func (l pgLock) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", serverLockID)
	return l.conn.Close()
}

// migrate applies the dialect's embedded migrations in order, each in a
// transaction that first checks it is still due. Two processes starting at
// once do not race: PostgreSQL takes an advisory lock; on SQLite each
// transaction holds the database's write lock from its BEGIN (_txlock).
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if s.d == DatabasePostgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockID)
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	dir := "migrations/" + string(s.d)
	names, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	done := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, v int) (bool, error) {
		var n int
		err := q.QueryRowContext(ctx, s.q("SELECT count(*) FROM schema_migrations WHERE version = $1"), v).Scan(&n)
		return n > 0, err
	}
	for _, n := range names {
		base := strings.TrimPrefix(n, dir+"/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		if ok, err := done(conn, v); err != nil {
			return fmt.Errorf("migrate: %w", err)
		} else if ok {
			continue
		}
		text, err := migrations.ReadFile(n)
		if err != nil {
			return err
		}
		if err := s.apply(ctx, conn, v, string(text), done); err != nil {
			return fmt.Errorf("migration %s/%s: %w", s.d, base, err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, conn *sql.Conn, v int, text string, done func(interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, int) (bool, error)) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if ok, err := done(tx, v); err != nil || ok {
		return err // another process applied it meanwhile
	}
	if _, err := tx.ExecContext(ctx, text); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q("INSERT INTO schema_migrations (version) VALUES ($1)"), v); err != nil {
		return err
	}
	return tx.Commit()
}
