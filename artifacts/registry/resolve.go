package registry

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bake-tool/bake/artifacts"
)

// Ref is what bake resolve is asked for: REG/REPO:CHANNEL or
// REG/REPO@VERSION.
type Ref struct {
	Repository string
	Channel    string
	Version    string
}

// ParseRef splits "REG/REPO:CHANNEL" or "REG/REPO@VERSION". The registry
// part may carry a port ("127.0.0.1:5000/golden:prod").
func ParseRef(s string) (Ref, error) {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		ref := Ref{Repository: s[:i], Version: s[i+1:]}
		if err := checkVersionName(ref.Version); err != nil {
			return Ref{}, err
		}
		if ref.Repository == "" {
			return Ref{}, fmt.Errorf("%q names no repository", s)
		}
		return ref, nil
	}
	slash := strings.LastIndexByte(s, '/')
	colon := strings.LastIndexByte(s, ':')
	if colon <= slash || slash < 0 {
		return Ref{}, fmt.Errorf("%q: give REG/REPO:CHANNEL or REG/REPO@VERSION", s)
	}
	ref := Ref{Repository: s[:colon], Channel: s[colon+1:]}
	if err := checkChannelName(ref.Channel); err != nil {
		return Ref{}, err
	}
	return ref, nil
}

// ResolveOptions say what to resolve and how strictly.
type ResolveOptions struct {
	// Build is the build's "type.name", or its name alone when that is
	// unambiguous.
	Build string
	// Region picks the AMI of that region.
	Region string
	// Key verifies the channel record, the version and any revocation.
	Key crypto.PublicKey
	// MinSequence refuses a channel record with a lower sequence (a
	// replayed old record).
	MinSequence uint64
}

// Resolution is what a deployer needs of one build of a version.
type Resolution struct {
	Repository string `json:"repository"`
	Channel    string `json:"channel,omitempty"`
	// Sequence is the channel record's sequence; remember it and pass it
	// back as -min-sequence.
	Sequence      uint64 `json:"sequence,omitempty"`
	Version       string `json:"version"`
	VersionDigest string `json:"versionDigest"`
	RunID         string `json:"runId"`
	Build         string `json:"build"`
	Builder       string `json:"builder"`
	// Artifacts are the build's deliverables (the one AMI of Region when
	// it was given).
	Artifacts []Deliverable `json:"artifacts"`
}

// Deliverable is one thing to deploy.
type Deliverable struct {
	// Kind is "ami", "image" (by digest) or "file".
	Kind string `json:"kind"`
	// Ref is what to hand on: the AMI id, the image reference by digest,
	// the file's path.
	Ref    string `json:"ref"`
	Region string `json:"region,omitempty"`
	URI    string `json:"uri,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Format string `json:"format,omitempty"`
}

// Resolve finds what ref names and checks it on the way: the channel
// record's signature, channel, repository and sequence (ErrBadSignature,
// ErrStale), the version's signature (ErrBadSignature), that the version
// is not revoked (ErrRevoked), and then the build (ErrNoBuild) and, for
// AMIs, the region (ErrNoRegion). What is missing gives ErrNotFound.
func (r *Repo) Resolve(ctx context.Context, ref Ref, o ResolveOptions) (*Resolution, error) {
	if o.Key == nil {
		return nil, errors.New("resolve needs a public key")
	}
	res := &Resolution{Repository: r.String(), Channel: ref.Channel, Version: ref.Version}
	var s *stored
	var err error
	if ref.Channel != "" {
		head, err := r.Head(ctx, ref.Channel, o.Key)
		if err != nil {
			return nil, err
		}
		if head.Sequence < o.MinSequence {
			return nil, fmt.Errorf("channel %s in %s: %w: its record has sequence %d, below -min-sequence %d (an old record replayed?)", ref.Channel, r, ErrStale, head.Sequence, o.MinSequence)
		}
		res.Sequence, res.Version = head.Sequence, head.Version
		s, err = r.get(ctx, r.repo.Digest(head.VersionDigest), "version "+head.Version, ArtifactTypeVersion)
		if err != nil {
			return nil, err
		}
	} else if s, err = r.get(ctx, r.repo.Tag(ref.Version), "version "+ref.Version, ArtifactTypeVersion); err != nil {
		return nil, err
	}
	res.VersionDigest = s.Digest.String()
	v, err := artifacts.Verify(s.Bundle, o.Key, artifacts.VerifyOptions{})
	if err != nil {
		return nil, fmt.Errorf("version %s in %s: %w: %w", res.Version, r, ErrBadSignature, err)
	}
	rev, err := r.revokedAs(ctx, res.Version, res.VersionDigest, s.BundleDigest, o.Key)
	switch {
	case err != nil:
		return nil, err
	case rev != nil && rev.Version != res.Version:
		return nil, fmt.Errorf("version %s in %s is %w: it holds version %s, revoked: %s (by %s at %s)", res.Version, r, ErrRevoked, rev.Version, rev.Reason, rev.By, rev.Time.Format("2006-01-02 15:04Z07:00"))
	case rev != nil:
		return nil, fmt.Errorf("version %s in %s is %w: %s (by %s at %s)", res.Version, r, ErrRevoked, rev.Reason, rev.By, rev.Time.Format("2006-01-02 15:04Z07:00"))
	}
	p := v.Statement.Predicate
	res.RunID = p.Fingerprint

	b, err := findBuild(p, o.Build)
	if err != nil {
		return nil, fmt.Errorf("version %s: %w", res.Version, err)
	}
	res.Build, res.Builder = b.Name, b.Builder
	res.Artifacts, err = deliverables(b, o.Region)
	if err != nil {
		return nil, fmt.Errorf("version %s: %w", res.Version, err)
	}
	return res, nil
}

// findBuild picks the build named want ("type.name", or "name" when only
// one build has it) that succeeded.
func findBuild(p *artifacts.Predicate, want string) (*artifacts.BuildEntry, error) {
	var found []*artifacts.BuildEntry
	var names []string
	for i := range p.Builds {
		b := &p.Builds[i]
		names = append(names, b.Name)
		if b.Name == want || strings.HasSuffix(b.Name, "."+want) {
			found = append(found, b)
		}
	}
	sort.Strings(names)
	switch {
	case len(found) == 0:
		return nil, fmt.Errorf("%w: no build %q (builds: %s)", ErrNoBuild, want, strings.Join(names, ", "))
	case len(found) > 1:
		return nil, fmt.Errorf("%w: %q names several builds; give type.name (builds: %s)", ErrNoBuild, want, strings.Join(names, ", "))
	case found[0].Status != artifacts.StatusSucceeded:
		return nil, fmt.Errorf("%w: build %s %s in this version", ErrNoBuild, found[0].Name, found[0].Status)
	}
	return found[0], nil
}

// deliverables lists what build b delivered: AMIs (only region's when it
// is given; a choice is needed when there are several), images by digest,
// and files with their sha256.
func deliverables(b *artifacts.BuildEntry, region string) ([]Deliverable, error) {
	var out []Deliverable
	var regions []string
	amis := 0
	for _, it := range b.Artifacts {
		sum, _ := strings.CutPrefix(it.Digest, "sha256:")
		switch {
		case it.Region != "" || it.Format == "ami":
			amis++
			regions = append(regions, it.Region)
			if region != "" && it.Region != region {
				continue
			}
			out = append(out, Deliverable{Kind: "ami", Ref: it.ExternalIdentifier, Region: it.Region, URI: it.URI})
		case region != "":
			// Only AMIs are regional.
		case it.URI != "" && strings.HasPrefix(it.Digest, "sha256:"):
			ref := it.URI
			if !strings.Contains(ref, "@") {
				ref = stripTag(ref) + "@" + it.Digest
			}
			out = append(out, Deliverable{Kind: "image", Ref: ref, URI: it.URI, SHA256: sum, Size: it.Size, Format: it.Format})
		case it.MediaType != "" && strings.Contains(it.MediaType, "image.config") || it.ExternalIdentifier == it.Digest:
			out = append(out, Deliverable{Kind: "image", Ref: it.ExternalIdentifier, SHA256: sum, Format: it.Format})
		default:
			out = append(out, Deliverable{Kind: "file", Ref: it.ExternalIdentifier, SHA256: sum, Size: it.Size, Format: it.Format})
		}
	}
	sort.Strings(regions)
	switch {
	case region != "" && len(out) == 0 && amis == 0:
		return nil, fmt.Errorf("%w: build %s has no regional artifact (no AMI), so -region %s does not apply", ErrNoRegion, b.Name, region)
	case region != "" && len(out) == 0:
		return nil, fmt.Errorf("%w: build %s has no AMI in %s (regions: %s)", ErrNoRegion, b.Name, region, strings.Join(regions, ", "))
	case region == "" && amis > 1:
		return nil, fmt.Errorf("%w: build %s has AMIs in %s: give -region", ErrNoRegion, b.Name, strings.Join(regions, ", "))
	case len(out) == 0:
		return nil, fmt.Errorf("%w: build %s delivered no artifact", ErrNoBuild, b.Name)
	}
	return out, nil
}

// stripTag removes a ":tag" after the last '/'.
func stripTag(ref string) string {
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i]
	}
	return ref
}
