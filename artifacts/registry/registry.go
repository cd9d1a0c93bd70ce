package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Artifact types of what bake stores (the manifest's artifactType).
const (
	ArtifactTypeVersion    = "application/vnd.bake.version.v1+json"
	ArtifactTypeChannel    = "application/vnd.bake.channel.v1+json"
	ArtifactTypeRevocation = "application/vnd.bake.revocation.v1+json"
)

// Tag prefixes of channel heads and revocations; version names may not
// start with them.
const (
	channelTagPrefix    = "channel-"
	revocationTagPrefix = "revoked-"
)

// maxBundleSize bounds what is read of a stored bundle.
const maxBundleSize = 16 << 20

// Errors a caller branches on (bake resolve maps them to exit codes).
// Each is wrapped with the details.
var (
	ErrNotFound      = errors.New("not found")
	ErrRevoked       = errors.New("revoked")
	ErrBadSignature  = errors.New("bad signature")
	ErrStale         = errors.New("channel record older than required")
	ErrNoBuild       = errors.New("build not in version")
	ErrNoRegion      = errors.New("region not in build")
	ErrVersionExists = errors.New("version exists with different content")
	ErrAuth          = errors.New("registry refused the credentials")
	// errNotBake: a manifest that is not the bake artifact asked for
	// (another kind of artifact, an image sharing the repository).
	errNotBake = errors.New("not a bake artifact of this kind")
)

// Options tune how a Repo talks to the registry.
type Options struct {
	// Keychain finds credentials; nil means the Docker config
	// (authn.DefaultKeychain, honouring DOCKER_CONFIG).
	Keychain authn.Keychain
	// Transport is the HTTP transport; nil means remote.DefaultTransport.
	Transport http.RoundTripper
	// Remote are extra go-containerregistry options (tests set a short
	// retry backoff).
	Remote []remote.Option
	// Now is the clock for record times; nil means time.Now.
	Now func() time.Time
}

// Repo is one repository in a registry, REG/REPO, holding the versions,
// channels and revocations of one image family.
type Repo struct {
	repo name.Repository
	opts Options
}

// Open returns the repository named ref ("registry.example.com/team/base",
// "127.0.0.1:5000/golden"). Loopback and private addresses are spoken to
// over plain HTTP, as go-containerregistry does.
func Open(ref string, opts Options) (*Repo, error) {
	r, err := name.NewRepository(ref, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("repository %q: %w", ref, err)
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Repo{repo: r, opts: opts}, nil
}

// String returns REG/REPO.
func (r *Repo) String() string { return r.repo.Name() }

func (r *Repo) remote(ctx context.Context) []remote.Option {
	o := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(r.opts.Keychain)}
	if r.opts.Transport != nil {
		o = append(o, remote.WithTransport(r.opts.Transport))
	}
	return append(o, r.opts.Remote...)
}

// classify turns a registry error into one that names the repository and,
// where a caller branches on it, wraps ErrNotFound or ErrAuth.
func (r *Repo) classify(what string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%s in %s: %w", what, r, ErrNotFound)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s in %s: %w (status %d; check docker login for %s): %w", what, r, ErrAuth, te.StatusCode, r.repo.RegistryStr(), err)
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("%s in %s: %w", what, r, ErrNotFound)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%s in %s: %w (check docker login for %s): %w", what, r, ErrAuth, r.repo.RegistryStr(), err)
			}
		}
	}
	return fmt.Errorf("%s in %s: %w", what, r, err)
}

// rawManifest is a manifest to PUT as it is.
type rawManifest struct {
	body []byte
	mt   types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// stored is an artifact read back: its manifest digest and the bundle it
// carries.
type stored struct {
	Digest       v1.Hash
	Manifest     ocispec.Manifest
	Bundle       []byte
	BundleDigest string
}

var emptyConfig = []byte("{}")

// put stores bundle as an OCI 1.1 artifact of artifactType and tags it:
// the blobs first, then the manifest by digest, then the tag, so that a
// reader of the tag never finds a manifest whose blobs are missing and a
// failure at any point leaves no tag behind.
func (r *Repo) put(ctx context.Context, tag, artifactType string, bundle []byte, annotations map[string]string) (v1.Hash, error) {
	cfg := static.NewLayer(emptyConfig, types.MediaType(ocispec.MediaTypeEmptyJSON))
	layer := static.NewLayer(bundle, types.MediaType(artifacts.BundleMediaType))
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(r.repo, l, r.remote(ctx)...); err != nil {
			return v1.Hash{}, r.classify("upload blob", err)
		}
	}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers: []ocispec.Descriptor{{
			MediaType: artifacts.BundleMediaType,
			Digest:    digestOf(bundle),
			Size:      int64(len(bundle)),
		}},
		Annotations: annotations,
	}
	m.SchemaVersion = 2
	body, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("marshal manifest: %w", err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		return v1.Hash{}, err
	}
	t := rawManifest{body: body, mt: types.OCIManifestSchema1}
	if err := remote.Put(r.repo.Digest(h.String()), t, r.remote(ctx)...); err != nil {
		return v1.Hash{}, r.classify("upload manifest", err)
	}
	if err := remote.Put(r.repo.Tag(tag), t, r.remote(ctx)...); err != nil {
		return v1.Hash{}, r.classify("tag "+tag, err)
	}
	return h, nil
}

// get reads the artifact at ref (a tag or a digest of r), checks that it
// is of artifactType and carries one Sigstore bundle, and reads the bundle,
// checking its digest.
func (r *Repo) get(ctx context.Context, ref name.Reference, what, artifactType string) (*stored, error) {
	desc, err := remote.Get(ref, r.remote(ctx)...)
	if err != nil {
		return nil, r.classify(what, err)
	}
	m, err := decodeManifest(desc.Manifest, artifactType)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", what, r, err)
	}
	if ref.Identifier() != desc.Digest.String() && strings.HasPrefix(ref.Identifier(), "sha256:") {
		return nil, fmt.Errorf("%s in %s: %w: the registry served manifest %s for %s", what, r, ErrBadSignature, desc.Digest, ref.Identifier())
	}
	l := m.Layers[0]
	blob, err := remote.Layer(r.repo.Digest(l.Digest.String()), r.remote(ctx)...)
	if err != nil {
		return nil, r.classify(what+": bundle", err)
	}
	rc, err := blob.Compressed()
	if err != nil {
		return nil, r.classify(what+": bundle", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s in %s: read bundle: %w: %w", what, r, ErrBadSignature, err)
	}
	if got := digestOf(data); got != l.Digest || int64(len(data)) != l.Size {
		return nil, fmt.Errorf("%s in %s: %w: the bundle blob does not match its digest %s (tampered?)", what, r, ErrBadSignature, l.Digest)
	}
	return &stored{Digest: desc.Digest, Manifest: *m, Bundle: data, BundleDigest: l.Digest.String()}, nil
}

// decodeManifest parses an OCI image manifest and checks that it is a
// bake artifact of artifactType ("" accepts any bake type) with one
// bundle layer.
func decodeManifest(body []byte, artifactType string) (*ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("manifest is not valid JSON: %w", err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest {
		return nil, fmt.Errorf("%w: manifest media type is %q", errNotBake, m.MediaType)
	}
	switch {
	case artifactType != "" && m.ArtifactType != artifactType:
		return nil, fmt.Errorf("%w: artifact type is %q, want %q", errNotBake, m.ArtifactType, artifactType)
	case artifactType == "" && !strings.HasPrefix(m.ArtifactType, "application/vnd.bake."):
		return nil, fmt.Errorf("%w: artifact type is %q", errNotBake, m.ArtifactType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != artifacts.BundleMediaType {
		return nil, fmt.Errorf("artifact does not hold exactly one %s layer", artifacts.BundleMediaType)
	}
	if err := m.Layers[0].Digest.Validate(); err != nil || m.Layers[0].Digest.Algorithm() != "sha256" {
		return nil, fmt.Errorf("bundle layer digest %q is not a sha256 digest", m.Layers[0].Digest)
	}
	if m.Layers[0].Size < 0 || m.Layers[0].Size > maxBundleSize {
		return nil, fmt.Errorf("bundle layer size %d is out of range", m.Layers[0].Size)
	}
	return &m, nil
}

// tags lists the repository's tags; a repository that does not exist yet
// has none.
func (r *Repo) tags(ctx context.Context) ([]string, error) {
	tags, err := remote.List(r.repo, r.remote(ctx)...)
	if err != nil {
		err = r.classify("list tags", err)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return tags, nil
}

func digestOf(b []byte) digest.Digest { return digest.FromBytes(b) }

var (
	versionRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$`)
	channelRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// checkVersionName refuses names that are no valid tag, or that would be
// taken for a channel head or a revocation.
func checkVersionName(v string) error {
	if !versionRe.MatchString(v) {
		return fmt.Errorf("version name %q: use letters, digits, '_', '.' and '-', at most 100, not starting with '.' or '-'", v)
	}
	if strings.HasPrefix(v, channelTagPrefix) || strings.HasPrefix(v, revocationTagPrefix) {
		return fmt.Errorf("version name %q: names starting with %q or %q are reserved", v, channelTagPrefix, revocationTagPrefix)
	}
	return nil
}

func checkChannelName(c string) error {
	if !channelRe.MatchString(c) {
		return fmt.Errorf("channel name %q: use lower-case letters, digits, '_' and '-', at most 64, starting with a letter or digit", c)
	}
	return nil
}
