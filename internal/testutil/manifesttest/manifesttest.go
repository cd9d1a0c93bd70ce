// Package manifesttest reads run manifests in tests: the in-toto statement
// inside a Sigstore bundle, decoded without checking the signature (tests
// that check signatures call artifacts.Verify).
package manifesttest

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/bake-tool/bake/artifacts"
)

// Bundle reads the Sigstore bundle at path. A file that is missing or not
// JSON fails t.
func Bundle(t testing.TB, path string) artifacts.Bundle {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("run manifest: %v", err)
	}
	var b artifacts.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatalf("run manifest %s: %v", path, err)
	}
	return b
}

// Payload returns the statement's bytes, as signed, of the run manifest
// at path.
func Payload(t testing.TB, path string) []byte {
	t.Helper()
	return Bundle(t, path).DSSEEnvelope.Payload
}

// Statement reads the run manifest at path and returns its statement. A
// file that is missing or not a bundle around a statement fails t.
func Statement(t testing.TB, path string) artifacts.Statement {
	t.Helper()
	payload := Payload(t, path)
	var stmt artifacts.Statement
	if err := json.Unmarshal(payload, &stmt); err != nil {
		t.Fatalf("run manifest %s: statement: %v\n%s", path, err, payload)
	}
	if stmt.Predicate == nil {
		t.Fatalf("run manifest %s: no predicate\n%s", path, payload)
	}
	return stmt
}

// Builds returns the builds the run manifest at path records.
func Builds(t testing.TB, path string) []artifacts.BuildEntry {
	t.Helper()
	return Statement(t, path).Predicate.Builds
}
