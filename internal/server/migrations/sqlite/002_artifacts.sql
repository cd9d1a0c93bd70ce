-- What each run made, read from its run manifest when the run ends (see
-- RunArtifacts): one JSON document per run.
CREATE TABLE run_artifacts (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    body   TEXT NOT NULL CHECK (json_valid(body))
);
