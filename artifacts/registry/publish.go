package registry

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts"
)

// Annotations on a version's manifest. They are hints for listings; what
// counts is the signed bundle.
const (
	annotationRunID   = "dev.bake.run-id"
	annotationCreated = "org.opencontainers.image.created"
)

// PublishOptions tune Publish.
type PublishOptions struct {
	// Version is the version name; "" means the run id of the manifest.
	Version string
	// AllowUnsigned publishes a manifest that has no signature.
	AllowUnsigned bool
	// Key, when set, must verify the manifest's signature before anything
	// is uploaded.
	Key crypto.PublicKey
}

// Version is a published version.
type Version struct {
	Name string `json:"name"`
	// Digest is the digest of the version's OCI manifest, what channel
	// records pin.
	Digest string `json:"digest"`
	// BundleDigest is the digest of the Sigstore bundle blob.
	BundleDigest string `json:"bundleDigest"`
	RunID        string `json:"runId,omitempty"`
	// Created is the run's time as the manifest annotation says
	// (unverified in listings).
	Created time.Time `json:"created,omitzero"`
	// Published is false when the same content was already there.
	Published bool `json:"-"`
}

// Publish stores a run manifest bundle as a version: an OCI 1.1 artifact
// (artifactType ArtifactTypeVersion, one layer of the Sigstore bundle
// media type) tagged with the version name. Versions are immutable: a
// name that exists with other content is refused (ErrVersionExists), the
// same content again is a no-op. An unsigned manifest is refused unless
// opts.AllowUnsigned.
func (r *Repo) Publish(ctx context.Context, bundle []byte, opts PublishOptions) (*Version, error) {
	st, signed, err := inspectBundle(bundle)
	if err != nil {
		return nil, err
	}
	if !signed && !opts.AllowUnsigned {
		return nil, fmt.Errorf("%w: refusing to publish it (allow it with -allow-unsigned)", artifacts.ErrUnsigned)
	}
	if opts.Key != nil {
		if _, err := artifacts.Verify(bundle, opts.Key, artifacts.VerifyOptions{}); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
	}
	name := opts.Version
	if name == "" {
		name = st.Predicate.Fingerprint
	}
	if err := checkVersionName(name); err != nil {
		return nil, err
	}
	v := &Version{Name: name, BundleDigest: digestOf(bundle).String(), RunID: st.Predicate.Fingerprint, Created: st.Predicate.CreatedAt}

	existing, err := r.get(ctx, r.repo.Tag(name), "version "+name, "")
	switch {
	case err == nil && existing.Manifest.ArtifactType != ArtifactTypeVersion:
		return nil, fmt.Errorf("version %s: tag %s in %s holds a %s, not a version", name, name, r, existing.Manifest.ArtifactType)
	case err == nil && existing.BundleDigest == v.BundleDigest:
		v.Digest = existing.Digest.String()
		return v, nil
	case err == nil:
		return nil, fmt.Errorf("version %s in %s: %w (its bundle is %s, this one is %s); publish under another -version", name, r, ErrVersionExists, existing.BundleDigest, v.BundleDigest)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}

	ann := map[string]string{annotationRunID: st.Predicate.Fingerprint}
	if !st.Predicate.CreatedAt.IsZero() {
		ann[annotationCreated] = st.Predicate.CreatedAt.UTC().Format(time.RFC3339)
	}
	h, err := r.put(ctx, name, ArtifactTypeVersion, bundle, ann)
	if err != nil {
		return nil, fmt.Errorf("publish version %s: %w", name, err)
	}
	v.Digest = h.String()
	v.Published = true
	return v, nil
}

// inspectBundle decodes a run manifest bundle without checking its
// signature: it must be a Sigstore bundle around a bake run manifest
// statement with a run id. signed reports whether it has a signature.
func inspectBundle(bundle []byte) (st *artifacts.Statement, signed bool, err error) {
	var b artifacts.Bundle
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, false, fmt.Errorf("not a run manifest bundle: %w", err)
	}
	if b.MediaType != artifacts.BundleMediaType {
		return nil, false, fmt.Errorf("not a run manifest bundle: media type is %q, want %q", b.MediaType, artifacts.BundleMediaType)
	}
	if b.DSSEEnvelope.PayloadType != artifacts.PayloadType {
		return nil, false, fmt.Errorf("not a run manifest bundle: payload type is %q", b.DSSEEnvelope.PayloadType)
	}
	st = &artifacts.Statement{}
	if err := json.Unmarshal(b.DSSEEnvelope.Payload, st); err != nil {
		return nil, false, fmt.Errorf("not a run manifest bundle: statement: %w", err)
	}
	if st.PredicateType != artifacts.PredicateTypeV1 || st.Predicate == nil {
		return nil, false, fmt.Errorf("not a run manifest bundle: predicate type is %q", st.PredicateType)
	}
	if strings.TrimSpace(st.Predicate.Fingerprint) == "" {
		return nil, false, errors.New("not a run manifest bundle: it has no run id (fingerprint)")
	}
	return st, len(b.DSSEEnvelope.Signatures) > 0, nil
}

// VersionBundle returns the stored bundle of version name and its
// manifest digest, checked against the blob's digest but not verified.
func (r *Repo) VersionBundle(ctx context.Context, name string) (bundle []byte, digest string, err error) {
	if err := checkVersionName(name); err != nil {
		return nil, "", err
	}
	s, err := r.get(ctx, r.repo.Tag(name), "version "+name, ArtifactTypeVersion)
	if err != nil {
		return nil, "", err
	}
	return s.Bundle, s.Digest.String(), nil
}

// VersionInfo is a line of Versions: a version with what points at it.
type VersionInfo struct {
	Version
	// Channels are the channels whose current record points at the
	// version.
	Channels []string `json:"channels,omitempty"`
	// Revoked is the revocation's reason when the version is revoked.
	Revoked    bool   `json:"revoked"`
	RevokedWhy string `json:"revokedReason,omitempty"`
}

// Versions lists the versions of the repository, oldest first (by the
// run time their annotation gives), each marked with the channels that
// point at it and whether it is revoked. With pub, channel records and
// revocations that do not verify are reported as errors; without, they
// are read unchecked (the listing is informational).
func (r *Repo) Versions(ctx context.Context, pub crypto.PublicKey) ([]VersionInfo, error) {
	tags, err := r.tags(ctx)
	if err != nil {
		return nil, err
	}
	heads, err := r.channelHeads(ctx, tags, pub)
	if err != nil {
		return nil, err
	}
	revoked := map[string]bool{}
	for _, t := range tags {
		if v, ok := strings.CutPrefix(t, revocationTagPrefix); ok {
			revoked[v] = true
		}
	}
	var out []VersionInfo
	for _, t := range tags {
		if strings.HasPrefix(t, channelTagPrefix) || strings.HasPrefix(t, revocationTagPrefix) || checkVersionName(t) != nil {
			continue
		}
		s, err := r.get(ctx, r.repo.Tag(t), "version "+t, ArtifactTypeVersion)
		switch {
		case errors.Is(err, errNotBake), errors.Is(err, ErrNotFound):
			continue // another kind of artifact shares the repository, or the tag went
		case err != nil:
			return nil, err
		}
		vi := VersionInfo{Version: Version{Name: t, Digest: s.Digest.String(), BundleDigest: s.BundleDigest, RunID: s.Manifest.Annotations[annotationRunID]}}
		if c, err := time.Parse(time.RFC3339, s.Manifest.Annotations[annotationCreated]); err == nil {
			vi.Created = c
		}
		for _, h := range heads {
			if h.VersionDigest == vi.Digest {
				vi.Channels = append(vi.Channels, h.Channel)
			}
		}
		if revoked[t] {
			rev, err := r.revocation(ctx, t, pub)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			if rev != nil {
				vi.Revoked, vi.RevokedWhy = true, rev.Reason
			}
		}
		out = append(out, vi)
	}
	sortVersions(out)
	return out, nil
}
