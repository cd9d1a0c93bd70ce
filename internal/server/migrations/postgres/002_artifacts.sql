-- What each run made, read from its run manifest when the run ends (see
-- RunArtifacts): one JSON document per run.
CREATE TABLE run_artifacts (
    run_id BIGINT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    body   JSONB NOT NULL
);
