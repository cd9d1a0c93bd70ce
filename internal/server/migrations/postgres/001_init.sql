CREATE TABLE runs (
    id          BIGSERIAL PRIMARY KEY,
    pipeline    TEXT NOT NULL,
    status      TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    bake_run_id TEXT NOT NULL DEFAULT '',
    git_commit  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at  TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    exit_code   INTEGER,
    error       TEXT NOT NULL DEFAULT '',
    version     TEXT NOT NULL DEFAULT '',
    promoted    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_pipeline_id ON runs (pipeline, id DESC);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE events (
    run_id  BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    time    TIMESTAMPTZ NOT NULL,
    type    TEXT NOT NULL,
    build   TEXT NOT NULL DEFAULT '',
    body    JSONB NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE tokens (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    sha256     TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    run_id          BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    event           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    status_code     INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    time            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_run ON webhook_deliveries (run_id);
