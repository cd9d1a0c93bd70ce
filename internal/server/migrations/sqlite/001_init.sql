-- The SQLite form of postgres/001_init.sql: the same tables and columns.
-- Timestamps are TIMESTAMP text (the driver reads them back as times);
-- event bodies are JSON text.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline    TEXT NOT NULL,
    status      TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    bake_run_id TEXT NOT NULL DEFAULT '',
    git_commit  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    started_at  TIMESTAMP,
    finished_at TIMESTAMP,
    exit_code   INTEGER,
    error       TEXT NOT NULL DEFAULT '',
    version     TEXT NOT NULL DEFAULT '',
    promoted    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_pipeline_id ON runs (pipeline, id DESC);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE events (
    run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    time    TIMESTAMP NOT NULL,
    type    TEXT NOT NULL,
    build   TEXT NOT NULL DEFAULT '',
    body    TEXT NOT NULL CHECK (json_valid(body)),
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE tokens (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    sha256     TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    event           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    status_code     INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    time            TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_run ON webhook_deliveries (run_id);
