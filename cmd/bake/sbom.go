package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/sbom"
	"github.com/bake-tool/bake/internal/engine"
)

const sbomSynopsis = `MANIFEST -build NAME [-key PUB | -allow-unsigned] [-packages]

Prints the SPDX 2.3 JSON SBOM of build NAME (type.name) of the run whose
manifest is MANIFEST (the .sigstore.json bake build wrote), after checking
that its sha256 is the one the manifest records. With -key, the manifest's
and the SBOM statement's signatures are checked too. -packages prints one
"name version purl" line per package instead of the document.

Example:
  bake sbom bake-manifest.sigstore.json -build docker.app -key release.pub`

func runSBOM(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("sbom", sbomSynopsis, env.stderr)
	build := fs.String("build", "", "the build (`type.name`) whose SBOM to print")
	keyPath := fs.String("key", "", "check the signatures with this public key (`PUB`, PEM)")
	allowUnsigned := fs.Bool("allow-unsigned", false, "read an unsigned manifest without -key")
	listPkgs := fs.Bool("packages", false, "print one line per package (name, version, purl)")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || *build == "" {
		fmt.Fprintln(env.stderr, "bake sbom: give one manifest and -build NAME")
		fs.Usage()
		return exitUsage
	}
	if *keyPath == "" && !*allowUnsigned {
		fmt.Fprintln(env.stderr, "bake sbom: -key is required (or -allow-unsigned to read it without checking a signature)")
		return exitUsage
	}
	var pub crypto.PublicKey
	if *keyPath != "" {
		if pub, err = readPublicKey(*keyPath); err != nil {
			fmt.Fprintf(env.stderr, "bake sbom: %s\n", err)
			return exitFailed
		}
	}
	doc, err := readBuildSBOM(pos[0], *build, pub, *allowUnsigned)
	if err != nil {
		fmt.Fprintf(env.stderr, "bake sbom: %s\n", err)
		return exitFailed
	}
	if !*listPkgs {
		env.stdout.Write(doc.raw)
		return exitOK
	}
	for _, n := range doc.notes {
		fmt.Fprintf(env.stderr, "bake sbom: note: %s\n", n)
	}
	for _, p := range doc.packages {
		fmt.Fprintf(env.stdout, "%s %s %s\n", p.Name, p.Version, p.PURL)
	}
	return exitOK
}

func readPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	pub, err := artifacts.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return pub, nil
}

// buildSBOM is a build's SBOM as read back and checked.
type buildSBOM struct {
	ref      *artifacts.SBOMRef
	raw      []byte
	packages []sbom.ListedPackage
	notes    []string
	signed   bool
}

// readBuildSBOM reads the manifest, finds build's SBOM beside it, checks
// its sha256 against the manifest and, with pub, both signatures.
func readBuildSBOM(manifestPath, build string, pub crypto.PublicKey, allowUnsigned bool) (*buildSBOM, error) {
	bundle, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, err
	}
	v, err := artifacts.Verify(bundle, pub, artifacts.VerifyOptions{AllowUnsigned: allowUnsigned})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", manifestPath, err)
	}
	var names []string
	for _, b := range v.Statement.Predicate.Builds {
		names = append(names, b.Name)
		if b.Name != build {
			continue
		}
		if b.SBOM == nil {
			return nil, fmt.Errorf("build %s has no SBOM in %s (no communicator, or the inventory could not run: see the build's output)", build, manifestPath)
		}
		return loadSBOM(filepath.Dir(manifestPath), b.SBOM, pub, allowUnsigned)
	}
	return nil, fmt.Errorf("no build %s in %s (it has %s)", build, manifestPath, strings.Join(names, ", "))
}

// loadSBOM reads ref's document and bundle from dir and checks them.
func loadSBOM(dir string, ref *artifacts.SBOMRef, pub crypto.PublicKey, allowUnsigned bool) (*buildSBOM, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ref.Path))
	if err != nil {
		return nil, fmt.Errorf("SBOM: %w", err)
	}
	if sum := sbom.SHA256(raw); sum != ref.SHA256 {
		return nil, fmt.Errorf("SBOM %s has sha256 %s, the manifest records %s: it was changed", ref.Path, sum, ref.SHA256)
	}
	out := &buildSBOM{ref: ref, raw: raw}
	if ref.Bundle != "" {
		bundle, err := os.ReadFile(filepath.Join(dir, ref.Bundle))
		if err != nil {
			return nil, fmt.Errorf("SBOM statement: %w", err)
		}
		a, signed, err := artifacts.VerifyAttestation(bundle, pub, ref.PredicateType, allowUnsigned)
		if err != nil {
			return nil, fmt.Errorf("SBOM statement %s: %w", ref.Bundle, err)
		}
		var inStmt, inFile any
		if json.Unmarshal(a.Predicate, &inStmt) != nil || json.Unmarshal(raw, &inFile) != nil || !jsonEqual(inStmt, inFile) {
			return nil, fmt.Errorf("SBOM statement %s does not hold the document %s", ref.Bundle, ref.Path)
		}
		out.signed = signed
	}
	doc, err := sbom.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("SBOM %s: %w", ref.Path, err)
	}
	out.packages = sbom.Packages(doc)
	out.notes = sbom.Notes(doc)
	return out, nil
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// attachSBOMs writes, for each build with an inventory, its SPDX document
// and its signed statement beside the run manifest at manifestPath, and
// records them in the build's entry. It runs before the manifest is
// signed, so the manifest vouches for each SBOM's digest.
func attachSBOMs(manifestPath string, stmt *artifacts.Statement, results []engine.Result, signer crypto.Signer, runID string) error {
	dir := filepath.Dir(manifestPath)
	base := manifestBase(manifestPath)
	var errs []error
	for i := range stmt.Predicate.Builds {
		e := &stmt.Predicate.Builds[i]
		var inv *sbom.Inventory
		for _, r := range results {
			if r.Name == e.Name {
				inv = r.Inventory
			}
		}
		if inv == nil {
			continue
		}
		subjects := artifacts.BuildSubjects(stmt, e.Name)
		doc := sbom.Document(inv, sbom.DocInfo{Build: e.Name, RunID: runID, BakeVersion: version, Created: e.FinishedAt, Subjects: subjects})
		data, err := sbom.Marshal(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("build %s: %w", e.Name, err))
			continue
		}
		st, _ := sbom.Statement(data, subjects)
		bundle, err := artifacts.SignAttestation(st, signer)
		if err != nil {
			errs = append(errs, fmt.Errorf("build %s: SBOM statement: %w", e.Name, err))
			continue
		}
		docName := base + "." + fileSafe(e.Name) + ".spdx.json"
		bundleName := base + "." + fileSafe(e.Name) + ".spdx.sigstore.json"
		if err := artifacts.WriteFileAtomic(filepath.Join(dir, docName), data, 0o644); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := artifacts.WriteFileAtomic(filepath.Join(dir, bundleName), bundle, 0o644); err != nil {
			errs = append(errs, err)
			continue
		}
		e.SBOM = &artifacts.SBOMRef{Path: docName, SHA256: sbom.SHA256(data), PredicateType: artifacts.PredicateTypeSPDX,
			Bundle: bundleName, Packages: len(inv.Packages)}
	}
	return errors.Join(errs...)
}

// manifestBase is the manifest's file name without ".sigstore.json" (or
// ".json"): the stem of the files written beside it.
func manifestBase(path string) string {
	b := filepath.Base(path)
	for _, suf := range []string{".sigstore.json", ".json"} {
		if s, ok := strings.CutSuffix(b, suf); ok && s != "" {
			return s
		}
	}
	return b
}

// fileSafe keeps a build name usable in a file name.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == ':' {
			return '_'
		}
		return r
	}, s)
}
