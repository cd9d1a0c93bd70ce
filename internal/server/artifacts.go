package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/sbom"
)

// RunArtifacts is what a run made, as its run manifest (bake build
// -manifest, in the run's working directory) records it: each build's
// artifacts with their digests, the packages of its SBOM and its test
// results. The runner reads it when the child exits, whatever the run's
// status (a failed build lists what it left), and stores it with the run.
type RunArtifacts struct {
	// Manifest is the run manifest's path on the server.
	Manifest string           `json:"manifest"`
	Builds   []BuildArtifacts `json:"builds"`
}

// BuildArtifacts is one build of a RunArtifacts.
type BuildArtifacts struct {
	Name      string                 `json:"name"`
	Builder   string                 `json:"builder"`
	Status    string                 `json:"status"`
	Error     string                 `json:"error,omitempty"`
	Artifacts []artifacts.Item       `json:"artifacts"`
	Tests     []artifacts.TestRecord `json:"tests"`
	Steps     []artifacts.StepEntry  `json:"steps,omitempty"`
	SBOM      *SBOMPackages          `json:"sbom,omitempty"`
}

// SBOMPackages is a build's SBOM: its file (beside the manifest), digest
// and package list.
type SBOMPackages struct {
	Path     string               `json:"path"`
	SHA256   string               `json:"sha256"`
	Packages []sbom.ListedPackage `json:"packages"`
}

// ReadRunArtifacts reads the run manifest at path and the SBOMs beside it.
// The files are the server's own (the run's working directory), written
// by the child it ran: the signature is not checked here (bake verify
// does that for whoever receives them), but an SBOM whose digest is not
// the one the manifest records is refused.
func ReadRunArtifacts(path string) (*RunArtifacts, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseRunArtifacts(path, data, func(name string) ([]byte, error) {
		return os.ReadFile(filepath.Join(filepath.Dir(path), name))
	})
}

// parseRunArtifacts reads a run manifest bundle (data, read from path);
// readFile reads a file beside it (an SBOM) by the name the manifest
// gives.
func parseRunArtifacts(path string, data []byte, readFile func(name string) ([]byte, error)) (*RunArtifacts, error) {
	var bundle artifacts.Bundle
	if err := json.Unmarshal(data, &bundle); err != nil {
		return nil, fmt.Errorf("%s: not a run manifest bundle: %w", path, err)
	}
	if pt := bundle.DSSEEnvelope.PayloadType; pt != artifacts.PayloadType {
		return nil, fmt.Errorf("%s: not a run manifest bundle (payload type %q)", path, pt)
	}
	payload := bundle.DSSEEnvelope.Payload
	var st artifacts.Statement
	if err := json.Unmarshal(payload, &st); err != nil || st.Predicate == nil {
		return nil, fmt.Errorf("%s: statement: not a run manifest (%v)", path, err)
	}
	out := &RunArtifacts{Manifest: path, Builds: []BuildArtifacts{}}
	var errs []error
	for _, b := range st.Predicate.Builds {
		ba := BuildArtifacts{Name: b.Name, Builder: b.Builder, Status: string(b.Status), Error: b.Error,
			Artifacts: b.Artifacts, Tests: b.Tests, Steps: b.Steps}
		if ba.Artifacts == nil {
			ba.Artifacts = []artifacts.Item{}
		}
		if ba.Tests == nil {
			ba.Tests = []artifacts.TestRecord{}
		}
		if b.SBOM != nil {
			pk, err := readSBOM(readFile, b.SBOM)
			if err != nil {
				errs = append(errs, fmt.Errorf("build %s: %w", b.Name, err))
			} else {
				ba.SBOM = pk
			}
		}
		out.Builds = append(out.Builds, ba)
	}
	return out, errors.Join(errs...)
}

func readSBOM(readFile func(string) ([]byte, error), ref *artifacts.SBOMRef) (*SBOMPackages, error) {
	if ref.Path == "" || filepath.IsAbs(ref.Path) || !filepath.IsLocal(ref.Path) {
		return nil, fmt.Errorf("SBOM path %q: not a file beside the manifest", ref.Path)
	}
	raw, err := readFile(ref.Path)
	if err != nil {
		return nil, fmt.Errorf("SBOM: %w", err)
	}
	if sum := sbom.SHA256(raw); sum != ref.SHA256 {
		return nil, fmt.Errorf("SBOM %s has sha256 %s, the manifest records %s", ref.Path, sum, ref.SHA256)
	}
	doc, err := sbom.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("SBOM %s: %w", ref.Path, err)
	}
	pk := &SBOMPackages{Path: ref.Path, SHA256: ref.SHA256, Packages: sbom.Packages(doc)}
	if pk.Packages == nil {
		pk.Packages = []sbom.ListedPackage{}
	}
	return pk, nil
}

// SetArtifacts stores what run made (replacing what was stored).
func (s *Store) SetArtifacts(ctx context.Context, run int64, a *RunArtifacts) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, s.q("INSERT INTO run_artifacts (run_id, body) VALUES ($1, $2) ON CONFLICT (run_id) DO UPDATE SET body = excluded.body"), run, string(body))
	return err
}

// Artifacts returns what run made, or ErrNotFound when nothing was
// recorded (the run wrote no manifest: it failed before, or it is going).
func (s *Store) Artifacts(ctx context.Context, run int64) (*RunArtifacts, error) {
	var body []byte
	err := s.r.QueryRowContext(ctx, s.q("SELECT body FROM run_artifacts WHERE run_id = $1"), run).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var a RunArtifacts
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("run %d artifacts: %w", run, err)
	}
	return &a, nil
}
