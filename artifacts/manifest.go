package artifacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Type URIs of the run manifest's layers (see MANIFEST.md).
const (
	// StatementType is the in-toto Statement v1 type.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateTypeV1 is the bake run manifest predicate, version 1. Within a
	// version the predicate only gains fields.
	PredicateTypeV1 = "https://bake.dev/manifest/v1"
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// BundleMediaType is the Sigstore bundle v0.3 media type.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// knownPredicateTypes are the predicate types Verify accepts.
var knownPredicateTypes = map[string]bool{PredicateTypeV1: true}

// Statement is an in-toto Statement v1 whose subjects are a run's
// artifacts and whose predicate describes the run.
type Statement struct {
	Type          string     `json:"_type"`
	Subject       []Subject  `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     *Predicate `json:"predicate"`
}

// Subject is one artifact the statement is about. Digest holds only
// "sha256" (hex), since cosign hex-decodes every digest it finds.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Predicate describes one bake run. Names follow HCP Packer's model.
type Predicate struct {
	// Bucket is the image family the run publishes into.
	Bucket string `json:"bucket,omitempty"`
	// Fingerprint is the run id.
	Fingerprint string            `json:"fingerprint"`
	CreatedAt   time.Time         `json:"createdAt"`
	Template    TemplateInfo      `json:"template"`
	Labels      map[string]string `json:"labels,omitempty"`
	BakeVersion string            `json:"bakeVersion"`
	// Variables are the run's non-sensitive input variables.
	Variables map[string]any `json:"variables,omitempty"`
	Builds    []BuildEntry   `json:"builds"`
}

// TemplateInfo identifies the template a run was built from.
type TemplateInfo struct {
	// Path is the template file or directory as given to bake build.
	Path string `json:"path"`
	// SHA256 is the hex sha256 of the template; see TemplateDigest.
	SHA256 string `json:"sha256"`
}

// BuildStatus is how a build ended.
type BuildStatus string

// The build statuses a manifest records.
const (
	StatusSucceeded BuildStatus = "succeeded"
	StatusFailed    BuildStatus = "failed"
	StatusCancelled BuildStatus = "cancelled"
)

// BuildEntry is one build of the run as the predicate records it.
type BuildEntry struct {
	// Name is the build's "type.name".
	Name       string      `json:"name"`
	Builder    string      `json:"builder"`
	Platform   string      `json:"platform,omitempty"`
	Status     BuildStatus `json:"status"`
	Error      string      `json:"error,omitempty"`
	StartedAt  time.Time   `json:"startedAt"`
	FinishedAt time.Time   `json:"finishedAt"`
	Parent     *Parent     `json:"parent,omitempty"`
	Artifacts  []Item      `json:"artifacts"`
	// Steps says, for a build that used the build cache, which
	// provisioner steps ran and which were reused.
	Steps []StepEntry `json:"steps,omitempty"`
	// SBOM is the build's software bill of materials, when one was taken.
	SBOM *SBOMRef `json:"sbom,omitempty"`
	// Tests are the build's test blocks, run on a fresh machine started
	// from its artifact, in template order.
	Tests []TestRecord `json:"tests,omitempty"`
	// Untested is set when a test failed and the artifact was kept anyway
	// (bake build -keep-failed-artifacts): the build is failed, so its
	// artifacts are listed but are no subjects.
	Untested bool `json:"untested,omitempty"`
}

// Test statuses a TestRecord holds.
const (
	TestPassed  = "passed"
	TestFailed  = "failed"
	TestSkipped = "skipped"
)

// TestRecord is one test block's outcome.
type TestRecord struct {
	// Name is the block's name attribute, or else its type ("shell").
	Name string `json:"name"`
	// Type is the block's label: the provisioner type it runs as.
	Type string `json:"type"`
	// Status is passed, failed or skipped (an earlier test failed, or the
	// test machine never started).
	Status string `json:"status"`
	// ExitStatus is the remote command's exit status when one ran; -1
	// when the test ended without one (timeout, lost connection).
	ExitStatus int `json:"exitStatus"`
	// DurationSeconds is how long the test ran, machine start excluded.
	DurationSeconds float64 `json:"durationSeconds"`
	// OutputSHA256 (hex) is the digest of the test's combined output, as
	// bake printed it (secrets redacted).
	OutputSHA256 string `json:"outputSha256,omitempty"`
	// Error says why a failed test failed.
	Error string `json:"error,omitempty"`
}

// SBOMRef points at a build's SBOM, a file beside the run manifest.
type SBOMRef struct {
	// Path is the SBOM document's file name, relative to the manifest's
	// directory; SHA256 (hex) is its digest.
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	// PredicateType is the type of its signed statement, whose bundle is
	// Bundle (relative to the manifest's directory).
	PredicateType string `json:"predicateType"`
	Bundle        string `json:"bundle"`
	// Packages is how many packages it lists.
	Packages int `json:"packages"`
}

// StepEntry is one provisioner step of a build that used the build cache:
// Status "run", "reused" (Key and RunID name the cache entry and the run
// that produced it) or "not-run" (the build stopped before it).
type StepEntry struct {
	Step   string `json:"step"`
	Status string `json:"status"`
	Key    string `json:"key,omitempty"`
	RunID  string `json:"runId,omitempty"`
}

// RunInfo is what the engine knows about the run as a whole.
type RunInfo struct {
	RunID       string
	Bucket      string
	CreatedAt   time.Time
	BakeVersion string
	// TemplatePath and TemplateSHA256 (hex) identify the template; see
	// TemplateDigest.
	TemplatePath   string
	TemplateSHA256 string
	Labels         map[string]string
	// Variables are the input variables; each value must marshal to JSON
	// (wrap cty values in ctyjson.SimpleJSONValue). Sensitive variables must
	// be left out, or named in Sensitive, which drops them.
	Variables map[string]any
	Sensitive []string
	// Redact, when set, is applied to every build error before it is
	// recorded, so a secret in an error message stays out of the manifest.
	Redact func(string) string
}

// BuildRecord is one build's outcome, as the engine hands it over.
type BuildRecord struct {
	Name     string // "type.name"
	Builder  string // source type
	Platform string // e.g. "linux/amd64"
	Status   BuildStatus
	// Err is why the build failed or was cancelled.
	Err      error
	Started  time.Time
	Finished time.Time
	// Parent is the resolved base image; when nil, the first artifact's
	// Parent is used.
	Parent *Parent
	// Artifacts are the final artifacts of the build (after
	// post-processors), and the ones that were kept along the way.
	Artifacts []*Artifact
	// Steps are the build's cache records (see StepEntry).
	Steps []StepEntry
	// Tests are the build's test records; Untested marks an artifact kept
	// after a failed test (see BuildEntry).
	Tests    []TestRecord
	Untested bool
}

// NewRunManifest builds the run manifest statement from the run's facts
// and every build's record, in the order given. Each artifact Item becomes
// a subject: a local file (Item.Path), named by its base name, by the
// sha256 of its content; an item with a "sha256:" Digest (a container
// image's manifest digest), named by its URI or else its external
// identifier, by that digest; anything else (an AMI) is named by its URI
// (the ARN) or else its external identifier, and its digest is the sha256
// of that name. An artifact with Files but no Items
// contributes one item per file.
//
// Only the artifacts of builds that succeeded are subjects: a failed or
// cancelled build's artifacts (what it left in place) are listed under
// the build, with their digests, but the statement does not vouch for
// them, so cosign or openssl checking a subject never accepts one.
//
// The statement is always returned, complete as far as possible; the
// error joins the problems met (a file that could not be read is listed
// without a digest and is no subject), so the engine can write the
// manifest and still report them.
func NewRunManifest(info RunInfo, builds []BuildRecord) (*Statement, error) {
	p := &Predicate{
		Bucket:      info.Bucket,
		Fingerprint: info.RunID,
		CreatedAt:   info.CreatedAt.UTC(),
		Template:    TemplateInfo{Path: info.TemplatePath, SHA256: info.TemplateSHA256},
		Labels:      info.Labels,
		BakeVersion: info.BakeVersion,
		Variables:   variablesWithout(info.Variables, info.Sensitive),
		Builds:      make([]BuildEntry, 0, len(builds)),
	}
	st := &Statement{
		Type:          StatementType,
		Subject:       []Subject{},
		PredicateType: PredicateTypeV1,
		Predicate:     p,
	}
	seen := map[subjectKey]bool{}
	var errs []error
	for _, b := range builds {
		e := BuildEntry{
			Name:       b.Name,
			Builder:    b.Builder,
			Platform:   b.Platform,
			Status:     b.Status,
			StartedAt:  b.Started.UTC(),
			FinishedAt: b.Finished.UTC(),
			Parent:     b.Parent,
			Artifacts:  []Item{},
			Steps:      b.Steps,
			Tests:      b.Tests,
			Untested:   b.Untested,
		}
		if e.Status == "" {
			e.Status = StatusSucceeded
			if b.Err != nil {
				e.Status = StatusFailed
			}
		}
		if b.Err != nil {
			e.Error = b.Err.Error()
			if info.Redact != nil {
				e.Error = info.Redact(e.Error)
			}
		} else if e.Status == StatusFailed {
			e.Error = "unknown error"
		}
		for _, a := range b.Artifacts {
			if a == nil {
				continue
			}
			if e.Parent == nil {
				e.Parent = a.Parent
			}
			for _, it := range itemsOf(a) {
				it, sub, err := subjectOf(it)
				if err != nil {
					errs = append(errs, fmt.Errorf("build %s: %w", b.Name, err))
				}
				e.Artifacts = append(e.Artifacts, it)
				if sub.Name == "" || e.Status != StatusSucceeded {
					continue
				}
				k := subjectKey{sub.Name, sub.Digest["sha256"]}
				if !seen[k] {
					seen[k] = true
					st.Subject = append(st.Subject, sub)
				}
			}
		}
		p.Builds = append(p.Builds, e)
	}
	return st, errors.Join(errs...)
}

// subjectKey is a subject's name and sha256, a comparable key.
type subjectKey struct{ name, sha256 string }

func variablesWithout(vars map[string]any, sensitive []string) map[string]any {
	if len(vars) == 0 {
		return nil
	}
	drop := map[string]bool{}
	for _, s := range sensitive {
		drop[s] = true
	}
	out := make(map[string]any, len(vars))
	for k, v := range vars {
		if !drop[k] {
			out[k] = v
		}
	}
	return out
}

// itemsOf returns a's items, or one item per file when it has none.
func itemsOf(a *Artifact) []Item {
	if len(a.Items) > 0 {
		return a.Items
	}
	items := make([]Item, 0, len(a.Files))
	for _, f := range a.Files {
		items = append(items, Item{ExternalIdentifier: f, Path: f})
	}
	return items
}

// subjectOf completes it (digest, size) and returns the subject it stands
// for. On error the subject is zero.
func subjectOf(it Item) (Item, Subject, error) {
	it.Tags = append([]string(nil), it.Tags...)
	switch {
	case it.Path != "":
		sum, size, err := FileSHA256(it.Path)
		if err != nil {
			return it, Subject{}, err
		}
		it.Digest = "sha256:" + sum
		it.Size = size
		name := filepath.Base(it.Path)
		return it, Subject{Name: name, Digest: map[string]string{"sha256": sum}}, nil
	case it.Digest != "":
		sum, ok := strings.CutPrefix(it.Digest, "sha256:")
		if !ok || !isHexSHA256(sum) {
			return it, Subject{}, fmt.Errorf("artifact %s: digest %q is not sha256:<64 hex digits>", it.ExternalIdentifier, it.Digest)
		}
		name := it.URI
		if name == "" {
			name = it.ExternalIdentifier
		}
		return it, Subject{Name: name, Digest: map[string]string{"sha256": sum}}, nil
	default:
		name := it.URI
		if name == "" {
			name = it.ExternalIdentifier
		}
		if name == "" {
			return it, Subject{}, errors.New("artifact item has no identifier")
		}
		s := sha256.Sum256([]byte(name))
		sum := hex.EncodeToString(s[:])
		it.Digest = "sha256:" + sum
		return it, Subject{Name: name, Digest: map[string]string{"sha256": sum}}, nil
	}
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// FileSHA256 returns the hex sha256 of the file at path and its size. A
// digest HashAndRemember computed in this process is reused while the
// file's inode, size, mtime and ctime are unchanged (digestcache.go).
func FileSHA256(path string) (sum string, size int64, err error) {
	if sum, size, ok := CachedSHA256(path); ok {
		return sum, size, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// TemplateDigest returns the hex sha256 that identifies a template made of
// files. For one file it is the sha256 of the file, as sha256sum prints
// it. For several it is the sha256 of sha256sum's output over them sorted
// by path ("<hex>  <path>\n" each), which a user can recompute with
// `sha256sum $(ls files | sort) | sha256sum` from the same directory.
func TemplateDigest(paths []string) (string, error) {
	if len(paths) == 1 {
		sum, _, err := FileSHA256(paths[0])
		return sum, err
	}
	sorted := append([]string(nil), paths...)
	sort.Strings(sorted)
	var b bytes.Buffer
	for _, p := range sorted {
		sum, _, err := FileSHA256(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, p)
	}
	s := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(s[:]), nil
}

// Marshal returns the statement's canonical bytes: compact JSON, keys in
// a fixed order (struct order, map keys sorted), no HTML escaping, no
// trailing newline. The same statement always gives the same bytes.
func (s *Statement) Marshal() ([]byte, error) {
	return marshalJSON(s, "")
}

func marshalJSON(v any, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
