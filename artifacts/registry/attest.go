package registry

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bake-tool/bake/artifacts"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// How an attestation is laid out next to an image.
const (
	// DSSEMediaType is the media type of a layer that is a bare DSSE
	// envelope, as cosign stores attestations.
	DSSEMediaType = "application/vnd.dsse.envelope.v1+json"
	// attTagSuffix ends cosign's attestation tag, sha256-<hex>.att.
	attTagSuffix = ".att"
	// cosignSignatureAnnotation is the layer annotation cosign reads a
	// signature from; an attestation's is empty (the signature is in the
	// envelope).
	cosignSignatureAnnotation = "dev.cosignproject.cosign/signature"
	// cosignPredicateAnnotation names the statement's predicate type on
	// the layer, as cosign attest writes it.
	cosignPredicateAnnotation = "predicateType"
	// bundleContentAnnotation and bundlePredicateAnnotation describe a
	// Sigstore bundle stored as an OCI 1.1 referrer.
	bundleContentAnnotation   = "dev.sigstore.bundle.content"
	bundlePredicateAnnotation = "dev.sigstore.bundle.predicateType"
)

// ErrNoAttestation is returned (wrapped) by VerifyAttestations when an
// image carries no attestation by the key.
var ErrNoAttestation = errors.New("no attestation")

// PushedImages returns the images a run pushed, by digest
// ("REG/REPO@sha256:…"), as its run manifest bundle records them: items
// whose URI names the digest the item records and which the statement
// lists as a subject. The bundle's signature is not checked.
func PushedImages(bundle []byte) ([]string, error) {
	st, _, err := inspectBundle(bundle)
	if err != nil {
		return nil, err
	}
	subjects := map[string]bool{}
	for _, s := range st.Subject {
		subjects["sha256:"+s.Digest["sha256"]] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, b := range st.Predicate.Builds {
		for _, it := range b.Artifacts {
			repo, dig, ok := strings.Cut(it.URI, "@")
			if !ok || repo == "" || dig != it.Digest || !subjects[dig] || seen[it.URI] {
				continue
			}
			if _, err := name.NewDigest(it.URI); err != nil {
				continue
			}
			seen[it.URI] = true
			out = append(out, it.URI)
		}
	}
	return out, nil
}

// Attachment says where an image's attestation was stored.
type Attachment struct {
	// Image is the image by digest, REG/REPO@sha256:….
	Image string `json:"image"`
	// Tag is cosign's attestation tag in the image's repository,
	// sha256-<hex>.att; Added is false when it already held this
	// envelope.
	Tag   string `json:"tag"`
	Added bool   `json:"added"`
	// Referrer is the digest of the OCI 1.1 referrer that carries the
	// bundle; "" when the registry has no referrers API.
	Referrer string `json:"referrer,omitempty"`
}

// Attach stores a run's signed statement next to one image it pushed,
// image being "REG/REPO@sha256:…", so that whoever pulls the image can
// check what built it. bundle is the run manifest bundle; its statement
// must list the image digest as a subject and it must be signed.
//
// The envelope goes where cosign 2.x looks for attestations (cosign
// verify-attestation --type https://bake.dev/manifest/v1): an image
// manifest tagged sha256-<hex>.att whose layers are DSSE envelopes. An
// existing tag keeps its layers and gains this one. Where the registry
// has the OCI 1.1 referrers API, the whole bundle is also stored as a
// referrer of the image (artifactType the Sigstore bundle media type), as
// OCI 1.1 tools list them. Attaching the same bundle again changes
// nothing.
func Attach(ctx context.Context, image string, bundle []byte, opts Options) (*Attachment, error) {
	d, err := name.NewDigest(image)
	if err != nil {
		return nil, fmt.Errorf("image %q: give REG/REPO@sha256:…: %w", image, err)
	}
	st, signed, err := inspectBundle(bundle)
	if err != nil {
		return nil, err
	}
	if !signed {
		return nil, fmt.Errorf("attest %s: %w: an attestation must be signed", image, artifacts.ErrUnsigned)
	}
	if !hasSubject(st.Subject, d.DigestStr()) {
		return nil, fmt.Errorf("attest %s: the run manifest does not list %s as a subject", image, d.DigestStr())
	}
	var b artifacts.Bundle
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, fmt.Errorf("attest %s: %w", image, err)
	}
	env, err := json.Marshal(b.DSSEEnvelope)
	if err != nil {
		return nil, fmt.Errorf("attest %s: marshal envelope: %w", image, err)
	}
	r, err := Open(d.Context().Name(), opts)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Head(d, r.remote(ctx)...)
	if err != nil {
		return nil, r.classify("image "+d.DigestStr(), err)
	}
	a := &Attachment{Image: d.Name(), Tag: attTag(d)}
	if a.Added, err = r.appendAttestation(ctx, d, env, st.PredicateType); err != nil {
		return a, fmt.Errorf("attest %s: %w", image, err)
	}
	supported, existing, err := r.referrers(ctx, d)
	if err != nil {
		return a, fmt.Errorf("attest %s: %w", image, err)
	}
	if !supported {
		return a, nil
	}
	ref, err := r.putReferrer(ctx, desc, bundle, st, existing)
	if err != nil {
		return a, fmt.Errorf("attest %s: referrer: %w", image, err)
	}
	a.Referrer = ref
	return a, nil
}

func hasSubject(subjects []artifacts.Subject, dig string) bool {
	hexSum, _ := strings.CutPrefix(dig, "sha256:")
	for _, s := range subjects {
		if s.Digest["sha256"] == hexSum {
			return true
		}
	}
	return false
}

// attTag is cosign's attestation tag of d: sha256-<hex>.att.
func attTag(d name.Digest) string {
	return strings.Replace(d.DigestStr(), ":", "-", 1) + attTagSuffix
}

// attBase is the empty image cosign starts an attestation tag from: an
// OCI manifest with an OCI config.
func attBase() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// appendAttestation adds env as a layer of d's attestation image (cosign's
// layout), unless a layer with the same digest is there already.
func (r *Repo) appendAttestation(ctx context.Context, d name.Digest, env []byte, predicateType string) (bool, error) {
	tag := r.repo.Tag(attTag(d))
	base := attBase()
	img, err := remote.Image(tag, r.remote(ctx)...)
	if err != nil {
		if err := r.classify("attestations of "+d.DigestStr(), err); !errors.Is(err, ErrNotFound) {
			return false, err
		}
		img = nil
	}
	layer := static.NewLayer(env, DSSEMediaType)
	if img != nil {
		m, err := img.Manifest()
		if err != nil {
			return false, r.classify("attestations of "+d.DigestStr(), err)
		}
		h, _ := layer.Digest()
		for _, l := range m.Layers {
			if l.Digest == h {
				return false, nil
			}
		}
		base = img
	}
	out, err := mutate.Append(base, mutate.Addendum{
		Layer:       layer,
		MediaType:   DSSEMediaType,
		Annotations: map[string]string{cosignSignatureAnnotation: "", cosignPredicateAnnotation: predicateType},
	})
	if err != nil {
		return false, err
	}
	// remote.Write uploads the blobs before the manifest, so the tag
	// never names a layer that is missing.
	if err := remote.Write(tag, out, r.remote(ctx)...); err != nil {
		return false, r.classify("tag "+tag.TagStr(), err)
	}
	return true, nil
}

// referrers asks the registry's referrers API for d's referrers; supported
// is false when the registry has none (distribution 2.8), which is no
// error.
func (r *Repo) referrers(ctx context.Context, d name.Digest) (supported bool, existing []v1.Descriptor, err error) {
	o := append(r.remote(ctx), remote.WithReferrersTagFallback(false))
	idx, err := remote.Referrers(d, o...)
	if err != nil {
		var te *transport.Error
		if !errors.As(err, &te) && strings.Contains(err.Error(), "does not support the Referrers API") {
			return false, nil, nil
		}
		return false, nil, r.classify("referrers of "+d.DigestStr(), err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return true, nil, r.classify("referrers of "+d.DigestStr(), err)
	}
	for _, desc := range m.Manifests {
		// Some registries give the config's media type as the artifact
		// type; the manifest itself says what it is.
		if desc.ArtifactType == artifacts.BundleMediaType || desc.ArtifactType == ocispec.MediaTypeEmptyJSON {
			existing = append(existing, desc)
		}
	}
	return true, existing, nil
}

// putReferrer stores bundle as an OCI 1.1 artifact whose subject is the
// image, unless an identical one is among existing.
func (r *Repo) putReferrer(ctx context.Context, subject *v1.Descriptor, bundle []byte, st *artifacts.Statement, existing []v1.Descriptor) (string, error) {
	cfg := static.NewLayer(emptyConfig, types.MediaType(ocispec.MediaTypeEmptyJSON))
	layer := static.NewLayer(bundle, types.MediaType(artifacts.BundleMediaType))
	ann := map[string]string{
		bundleContentAnnotation:   "dsse-envelope",
		bundlePredicateAnnotation: st.PredicateType,
	}
	if st.Predicate != nil && !st.Predicate.CreatedAt.IsZero() {
		ann[annotationCreated] = st.Predicate.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifacts.BundleMediaType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers: []ocispec.Descriptor{{
			MediaType: artifacts.BundleMediaType,
			Digest:    digestOf(bundle),
			Size:      int64(len(bundle)),
		}},
		Subject: &ocispec.Descriptor{
			MediaType: string(subject.MediaType),
			Digest:    digest.Digest(subject.Digest.String()),
			Size:      subject.Size,
		},
		Annotations: ann,
	}
	m.SchemaVersion = 2
	body, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	h, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	for _, e := range existing {
		if e.Digest == h {
			return h.String(), nil
		}
	}
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(r.repo, l, r.remote(ctx)...); err != nil {
			return "", r.classify("upload blob", err)
		}
	}
	if err := remote.Put(r.repo.Digest(h.String()), rawManifest{body: body, mt: types.OCIManifestSchema1}, r.remote(ctx)...); err != nil {
		return "", r.classify("upload referrer", err)
	}
	return h.String(), nil
}

// Attestation is one verified attestation of an image.
type Attestation struct {
	// Source is "tag" (cosign's sha256-<hex>.att) or "referrer".
	Source string `json:"source"`
	// Digest is the layer's digest (tag) or the referrer manifest's.
	Digest string `json:"digest"`
	// RunID and PredicateType come from the verified statement.
	RunID         string `json:"runId"`
	PredicateType string `json:"predicateType"`
}

// VerifyAttestations reads the attestations attached to image
// ("REG/REPO@sha256:…") from cosign's tag and, where the registry has the
// API, its referrers, and checks each as cosign verify-attestation does
// and more: the DSSE signature by pub over an in-toto statement that
// lists the image digest as a subject, and the blob's digest. It returns
// the ones that verify; an attestation that is present but does not
// verify is an error wrapping ErrBadSignature (tampered, or signed by
// another key), and none at all wraps ErrNoAttestation.
func VerifyAttestations(ctx context.Context, image string, pub crypto.PublicKey, opts Options) ([]Attestation, error) {
	d, err := name.NewDigest(image)
	if err != nil {
		return nil, fmt.Errorf("image %q: give REG/REPO@sha256:…: %w", image, err)
	}
	r, err := Open(d.Context().Name(), opts)
	if err != nil {
		return nil, err
	}
	var out []Attestation
	var bad []error
	img, err := remote.Image(r.repo.Tag(attTag(d)), r.remote(ctx)...)
	if err != nil {
		err = r.classify("attestations of "+d.DigestStr(), err)
	}
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, err
	default:
		m, err := img.Manifest()
		if err != nil {
			return nil, r.classify("attestations of "+d.DigestStr(), err)
		}
		for _, l := range m.Layers {
			if l.MediaType != DSSEMediaType {
				continue
			}
			env, err := r.blob(ctx, l.Digest, l.Size)
			if err == nil {
				var a *Attestation
				if a, err = checkEnvelope(env, pub, d.DigestStr()); err == nil {
					a.Source, a.Digest = "tag", l.Digest.String()
					out = append(out, *a)
				}
			}
			if err != nil {
				bad = append(bad, fmt.Errorf("layer %s of %s: %w", l.Digest, attTag(d), err))
			}
		}
	}
	supported, refs, err := r.referrers(ctx, d)
	if err != nil {
		return nil, err
	}
	if supported {
		for _, ref := range refs {
			s, err := r.get(ctx, r.repo.Digest(ref.Digest.String()), "referrer "+ref.Digest.String(), artifacts.BundleMediaType)
			if errors.Is(err, errNotBake) {
				continue // another kind of referrer
			}
			if err == nil {
				var a *Attestation
				if a, err = checkAttestation(s.Bundle, pub, d.DigestStr()); err == nil {
					a.Source, a.Digest = "referrer", ref.Digest.String()
					out = append(out, *a)
				}
			}
			if err != nil {
				bad = append(bad, fmt.Errorf("referrer %s: %w", ref.Digest, err))
			}
		}
	}
	switch {
	case len(bad) > 0:
		return out, fmt.Errorf("attestations of %s: %w", image, errors.Join(bad...))
	case len(out) == 0:
		return nil, fmt.Errorf("%s: %w (no %s tag, no referrer)", image, ErrNoAttestation, attTag(d))
	}
	return out, nil
}

// checkEnvelope verifies a bare DSSE envelope (a layer of cosign's
// attestation tag) as checkAttestation does a bundle.
func checkEnvelope(env []byte, pub crypto.PublicKey, dig string) (*Attestation, error) {
	var e artifacts.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		return nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	b, err := json.Marshal(artifacts.Bundle{MediaType: artifacts.BundleMediaType, DSSEEnvelope: e})
	if err != nil {
		return nil, err
	}
	return checkAttestation(b, pub, dig)
}

// checkAttestation verifies bundle's signature by pub and that its
// statement lists dig as a subject.
func checkAttestation(bundle []byte, pub crypto.PublicKey, dig string) (*Attestation, error) {
	payload, err := artifacts.VerifyPayload(bundle, pub, artifacts.PayloadType)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	var st artifacts.Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	if st.Type != artifacts.StatementType {
		return nil, fmt.Errorf("statement type is %q, want %q", st.Type, artifacts.StatementType)
	}
	if !hasSubject(st.Subject, dig) {
		return nil, fmt.Errorf("%w: the signed statement is not about %s (copied from another image?)", ErrBadSignature, dig)
	}
	a := &Attestation{PredicateType: st.PredicateType}
	if st.Predicate != nil {
		a.RunID = st.Predicate.Fingerprint
	}
	return a, nil
}

// blob reads the blob h of r, at most size bytes, and checks its digest.
func (r *Repo) blob(ctx context.Context, h v1.Hash, size int64) ([]byte, error) {
	if size < 0 || size > maxBundleSize {
		return nil, fmt.Errorf("blob %s: size %d is out of range", h, size)
	}
	l, err := remote.Layer(r.repo.Digest(h.String()), r.remote(ctx)...)
	if err != nil {
		return nil, r.classify("blob "+h.String(), err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, r.classify("blob "+h.String(), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBundleSize+1))
	if err != nil {
		return nil, r.classify("blob "+h.String(), err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(data)); got != h {
		return nil, fmt.Errorf("%w: blob %s does not match its digest (tampered?)", ErrBadSignature, h)
	}
	return data, nil
}
