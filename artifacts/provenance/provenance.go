// Package provenance writes SLSA provenance v1 for a bake run: what went
// in (template files, variables, base images, scripts, the git commit),
// who ran it, where and why. Facts in, document out: the command line
// gathers the facts (Git, Audit read the system); Predicate arranges them
// in SLSA's shape.
package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"
)

// BuildType is the buildType of bake's provenance; its externalParameters
// are Parameters.
const BuildType = "https://bake.dev/provenance/build/v1"

// BuilderID is the runDetails.builder.id of provenance bake writes: a
// bake binary on a machine the signer controls.
const BuilderID = "https://bake.dev/builder/bake-cli@v1"

// Predicate is an SLSA provenance v1 predicate.
type Predicate struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is SLSA's buildDefinition.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   Parameters           `json:"externalParameters"`
	InternalParameters   map[string]any       `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies"`
}

// Parameters are the run's external parameters.
type Parameters struct {
	// Template is the path given to bake build; Files each template file
	// with its sha256, and Digest the template digest the manifest holds.
	Template string `json:"template"`
	Digest   string `json:"digest"`
	Files    []File `json:"files"`
	// Variables are the non-sensitive variables with their values;
	// SensitiveVariables only name the others.
	Variables          map[string]any `json:"variables,omitempty"`
	SensitiveVariables []string       `json:"sensitiveVariables,omitempty"`
	Only               []string       `json:"only,omitempty"`
	Except             []string       `json:"except,omitempty"`
	// Source is the git checkout the template is in, when it is in one.
	Source *Git `json:"source,omitempty"`
	// Audit says who ran the build and why.
	Audit Audit `json:"audit"`
}

// File is a template file and its digest.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Git is the checkout a template is in.
type Git struct {
	URL    string `json:"url,omitempty"`
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"`
	// Subject is the commit's subject line.
	Subject string `json:"subject,omitempty"`
}

// Audit is the audit trail of a run.
type Audit struct {
	User string `json:"user,omitempty"`
	Host string `json:"host,omitempty"`
	// CI is the CI system recognised from the environment.
	CI *CI `json:"ci,omitempty"`
	// Reason is why the run was made: -reason, or else the git commit's
	// subject; ReasonSource says which ("flag", "git-commit").
	Reason       string `json:"reason,omitempty"`
	ReasonSource string `json:"reasonSource,omitempty"`
}

// CI is the CI job a run was made in.
type CI struct {
	System string `json:"system"`
	JobURL string `json:"jobUrl,omitempty"`
	// Actor is the CI's user that started the job.
	Actor string `json:"actor,omitempty"`
	// Ref and Commit are what the CI checked out.
	Ref    string `json:"ref,omitempty"`
	Commit string `json:"commit,omitempty"`
}

// ResourceDescriptor is an in-toto ResourceDescriptor.
type ResourceDescriptor struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]any    `json:"annotations,omitempty"`
}

// RunDetails is SLSA's runDetails.
type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata Metadata `json:"metadata"`
}

// Builder is SLSA's builder.
type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// Metadata is SLSA's run metadata.
type Metadata struct {
	InvocationID string    `json:"invocationId"`
	StartedOn    time.Time `json:"startedOn"`
	FinishedOn   time.Time `json:"finishedOn"`
}

// Facts are what the run knows, as the command line gathered them.
type Facts struct {
	Params       Parameters
	Dependencies []ResourceDescriptor
	BakeVersion  string
	RunID        string
	Started      time.Time
	Finished     time.Time
}

// NewPredicate arranges facts as SLSA provenance v1. Dependencies are
// sorted by URI then name, and a dependency named twice (the same base
// image for two builds) is listed once.
func NewPredicate(f Facts) *Predicate {
	deps := dedupe(f.Dependencies)
	if g := f.Params.Source; g != nil && g.Commit != "" {
		uri := g.URL
		if uri != "" {
			uri = "git+" + uri
		}
		deps = append([]ResourceDescriptor{{Name: "template-source", URI: uri, Digest: map[string]string{"gitCommit": g.Commit},
			Annotations: map[string]any{"dirty": g.Dirty}}}, deps...)
	}
	if f.Params.Files == nil {
		f.Params.Files = []File{}
	}
	return &Predicate{
		BuildDefinition: BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   f.Params,
			ResolvedDependencies: deps,
		},
		RunDetails: RunDetails{
			Builder:  Builder{ID: BuilderID, Version: map[string]string{"bake": f.BakeVersion}},
			Metadata: Metadata{InvocationID: f.RunID, StartedOn: f.Started.UTC(), FinishedOn: f.Finished.UTC()},
		},
	}
}

func dedupe(in []ResourceDescriptor) []ResourceDescriptor {
	out := []ResourceDescriptor{}
	seen := map[string]bool{}
	for _, d := range in {
		k := d.URI + "\x00" + d.Name + "\x00" + d.Digest["sha256"]
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].URI != out[j].URI {
			return out[i].URI < out[j].URI
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// SHA256 returns the hex sha256 of s.
func SHA256(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
