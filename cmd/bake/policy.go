package main

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/policy"
)

// verifyExtra is what bake verify checks beside the run manifest: each
// build's SBOM, the run's provenance, and the policy.
// policyT is the policy type bake verify and resolve take.
type policyT = policy.Policy

type verifyExtra struct {
	SBOMs      []sbomCheck     `json:"sboms"`
	Provenance *provCheck      `json:"provenance"`
	Policy     []policy.Result `json:"policy,omitempty"`
	// PolicyOK is false when a rule failed.
	PolicyOK bool `json:"policyPassed"`

	policyPath string
}

type sbomCheck struct {
	Build    string   `json:"build"`
	Path     string   `json:"path"`
	Packages int      `json:"packages"`
	Notes    []string `json:"notes,omitempty"`
	Signed   bool     `json:"signed"`
}

type provCheck struct {
	Path   string `json:"path"`
	Signed bool   `json:"signed"`
}

// loadPolicy reads and compiles a policy file; its errors are rendered
// FILE:LINE:COL, one per line.
func loadPolicy(path string) (*policy.Policy, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, diags := policy.Parse(path, src)
	if diags.HasErrors() {
		return nil, errors.New(strings.TrimSpace(policy.FormatDiagnostics(diags)))
	}
	return p, nil
}

// verifyExtras checks the SBOMs the manifest names and the provenance
// beside it (each digest, signature and subject list), then evaluates pol
// (when not nil) on the verified documents. A missing provenance file is
// no error (a run manifest from before provenance, or merged shards);
// a provenance whose subjects are not the manifest's is.
func verifyExtras(bundlePath string, v *artifacts.Verified, pub crypto.PublicKey, allowUnsigned bool, pol *policy.Policy, polPath string) (*verifyExtra, error) {
	dir := filepath.Dir(bundlePath)
	x := &verifyExtra{SBOMs: []sbomCheck{}, PolicyOK: true, policyPath: polPath}
	sboms := map[string]any{}
	for _, b := range v.Statement.Predicate.Builds {
		if b.SBOM == nil {
			continue
		}
		s, err := loadSBOM(dir, b.SBOM, pub, allowUnsigned)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", b.Name, err)
		}
		x.SBOMs = append(x.SBOMs, sbomCheck{Build: b.Name, Path: b.SBOM.Path, Packages: len(s.packages), Notes: s.notes, Signed: s.signed})
		pkgs := make([]any, 0, len(s.packages))
		for _, p := range s.packages {
			pkgs = append(pkgs, map[string]any{"name": p.Name, "version": p.Version, "purl": p.PURL})
		}
		notes := make([]any, 0, len(s.notes))
		for _, n := range s.notes {
			notes = append(notes, n)
		}
		sboms[b.Name] = map[string]any{"sha256": b.SBOM.SHA256, "packages": pkgs, "notes": notes}
	}

	var prov map[string]any
	pp := provenancePath(bundlePath)
	if data, err := os.ReadFile(pp); err == nil {
		a, signed, err := artifacts.VerifyAttestation(data, pub, artifacts.PredicateTypeSLSAProvenanceV1, allowUnsigned)
		if err != nil {
			return nil, fmt.Errorf("provenance %s: %w", pp, err)
		}
		if !sameSubjects(a.Subject, v.Statement.Subject) {
			return nil, fmt.Errorf("provenance %s is about other subjects than the manifest (another run's?)", pp)
		}
		if err := json.Unmarshal(a.Predicate, &prov); err != nil {
			return nil, fmt.Errorf("provenance %s: %w", pp, err)
		}
		x.Provenance = &provCheck{Path: filepath.Base(pp), Signed: signed}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	if pol == nil {
		return x, nil
	}
	var err error
	x.Policy, x.PolicyOK, err = evalPolicy(pol, v, sboms, prov)
	return x, err
}

// evalPolicy evaluates pol on a verified run: its manifest (with its
// subjects and predicate type), the SBOMs by build name and the
// provenance predicate (either may be empty), and its signature.
func evalPolicy(pol *policy.Policy, v *artifacts.Verified, sboms, prov map[string]any) ([]policy.Result, bool, error) {
	var manifest map[string]any
	raw, err := json.Marshal(v.Statement.Predicate)
	if err == nil {
		err = json.Unmarshal(raw, &manifest)
	}
	if err != nil {
		return nil, false, err
	}
	subjects := make([]any, 0, len(v.Statement.Subject))
	for _, s := range v.Statement.Subject {
		subjects = append(subjects, map[string]any{"name": s.Name, "sha256": s.Digest["sha256"]})
	}
	manifest["subjects"] = subjects
	manifest["predicateType"] = v.Statement.PredicateType
	if sboms == nil {
		sboms = map[string]any{}
	}
	in := &policy.Input{
		Manifest:   manifest,
		SBOMs:      sboms,
		Provenance: prov,
		Signature:  map[string]any{"signed": v.Signed, "keyHint": v.KeyHint, "signedAt": v.Statement.Predicate.CreatedAt},
		Now:        time.Now(),
	}
	results, ok := pol.Evaluate(in)
	return results, ok, nil
}

// printPolicy writes one PASS/FAIL line per rule and the summary.
func printPolicy(w io.Writer, path string, results []policy.Result) {
	fmt.Fprintf(w, "\nPolicy %s:\n", path)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range results {
		verdict := "PASS"
		if !r.Pass {
			verdict = "FAIL"
		}
		line := fmt.Sprintf("  %s\t%s", verdict, r.Rule)
		if r.Description != "" {
			line += "\t" + r.Description
		}
		if r.Error != "" {
			line += "\t(error: " + oneLine(r.Error) + ")"
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	fmt.Fprintf(w, "policy: %s\n", policy.Summary(results))
}

func sameSubjects(a, b []artifacts.Subject) bool {
	key := func(s []artifacts.Subject) string {
		var k []string
		for _, x := range s {
			k = append(k, x.Name+"@"+x.Digest["sha256"])
		}
		sort.Strings(k)
		return strings.Join(k, "\n")
	}
	return key(a) == key(b)
}

// printExtras writes the SBOM, provenance and policy lines of bake
// verify's summary.
func printExtras(w io.Writer, x *verifyExtra) {
	if len(x.SBOMs) > 0 {
		fmt.Fprintf(w, "\nSBOMs (%d):\n", len(x.SBOMs))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range x.SBOMs {
			state := "digest OK, statement signed"
			if !s.Signed {
				state = "digest OK, statement UNSIGNED"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d package(s)\t%s\n", s.Build, s.Path, s.Packages, state)
			for _, n := range s.Notes {
				fmt.Fprintf(tw, "    note: %s\n", n)
			}
		}
		tw.Flush()
	}
	if x.Provenance != nil {
		state := "signed"
		if !x.Provenance.Signed {
			state = "UNSIGNED"
		}
		fmt.Fprintf(w, "\nProvenance: %s (SLSA v1, %s, same subjects)\n", x.Provenance.Path, state)
	} else {
		fmt.Fprintln(w, "\nProvenance: none beside the manifest")
	}
	if x.policyPath == "" {
		return
	}
	printPolicy(w, x.policyPath, x.Policy)
}
