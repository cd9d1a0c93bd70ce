// Package share keeps build cache entries in an OCI registry, so that
// CI machines with empty local caches reuse what another one built:
// bake build -cache-from REF reads entries from the repository REF,
// -cache-to REF writes them there.
//
// An entry is tagged with its key's 64 hex digits in the repository
// (REF:<hex>). A docker step or image entry is the image itself, pushed
// as it is (its config, so its image id, unchanged); a qemu disk is an
// OCI artifact whose one layer is the disk file. The manifest's
// annotations say the key, the kind and the run, build and step that
// made the entry, so that a reuse names them.
//
// A registry that cannot be reached or refuses is the caller's warning,
// never a failed build: the cache is an optimisation.
package share

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bake-tool/bake/cache"
)

// Annotations on a shared entry's manifest.
const (
	AnnotationKey   = "dev.bake.cache.key"
	AnnotationKind  = "dev.bake.cache.kind"
	AnnotationRunID = "dev.bake.cache.run-id"
	AnnotationBuild = "dev.bake.cache.build"
	AnnotationStep  = "dev.bake.cache.step"
)

// Media types of a shared qemu disk.
const (
	ArtifactTypeDisk = "application/vnd.bake.cache.qemu-disk.v1"
	MediaTypeDisk    = "application/vnd.bake.cache.qemu-disk.v1.raw"
)

// ErrNotFound is wrapped by a look-up of a key the registry does not hold.
var ErrNotFound = errors.New("not in the shared cache")

// Registry is the shared cache of a run: the repository entries are read
// from (-cache-from) and the one they are written to (-cache-to), either
// of which may be unset.
type Registry struct {
	from, to *name.Repository
	opts     []remote.Option
}

// Open returns the shared cache for -cache-from and -cache-to ("" for
// none); nil when both are "". Each is a repository, REG/REPO, without a
// tag: entries are tagged with their keys. Loopback and private
// addresses are spoken to over plain HTTP, as go-containerregistry does.
// Credentials come from the docker config (docker login).
func Open(from, to string, opts ...remote.Option) (*Registry, error) {
	if from == "" && to == "" {
		return nil, nil
	}
	r := &Registry{opts: append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)}
	for _, f := range []struct {
		flag, ref string
		dst       **name.Repository
	}{{"-cache-from", from, &r.from}, {"-cache-to", to, &r.to}} {
		if f.ref == "" {
			continue
		}
		repo, err := name.NewRepository(f.ref, name.StrictValidation)
		if err != nil {
			return nil, fmt.Errorf("%s %q: want a repository such as registry.example.com/team/bake-cache, without a tag: %w", f.flag, f.ref, err)
		}
		*f.dst = &repo
	}
	return r, nil
}

// From is the -cache-from repository ("" when none).
func (r *Registry) From() string {
	if r == nil || r.from == nil {
		return ""
	}
	return r.from.Name()
}

// To is the -cache-to repository ("" when none).
func (r *Registry) To() string {
	if r == nil || r.to == nil {
		return ""
	}
	return r.to.Name()
}

// CanRead reports whether entries are read from a registry.
func (r *Registry) CanRead() bool { return r != nil && r.from != nil }

// CanWrite reports whether entries are written to a registry.
func (r *Registry) CanWrite() bool { return r != nil && r.to != nil }

func (r *Registry) remote(ctx context.Context) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx)}, r.opts...)
}

// Meta is what a shared entry says of itself.
type Meta struct {
	Key                      cache.Key
	Kind, RunID, Build, Step string
}

func (m Meta) annotations() map[string]string {
	a := map[string]string{AnnotationKey: string(m.Key), AnnotationKind: m.Kind, AnnotationRunID: m.RunID}
	if m.Build != "" {
		a[AnnotationBuild] = m.Build
	}
	if m.Step != "" {
		a[AnnotationStep] = m.Step
	}
	return a
}

func metaOf(a map[string]string) Meta {
	return Meta{Key: cache.Key(a[AnnotationKey]), Kind: a[AnnotationKind], RunID: a[AnnotationRunID], Build: a[AnnotationBuild], Step: a[AnnotationStep]}
}

// check makes sure what the registry returned under k's tag says it is
// k's entry of kind: a tag overwritten by something else is not used.
func (m Meta) check(k cache.Key, kind string) error {
	if m.Key != k || m.Kind != kind {
		return fmt.Errorf("%w: the manifest tagged %s is not a bake %s entry of that key (it says key %q, kind %q)", ErrNotFound, k.Short(), kind, m.Key, m.Kind)
	}
	return nil
}

func tag(repo *name.Repository, k cache.Key) name.Tag { return repo.Tag(k.Hex()) }

// classify names the registry in err and turns a 404 into ErrNotFound.
func classify(what string, repo *name.Repository, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s in %s: %w", what, repo.Name(), ErrNotFound)
	}
	return fmt.Errorf("%s in %s: %w", what, repo.Name(), err)
}

// Has reports whether the -cache-to repository holds k's entry.
func (r *Registry) Has(ctx context.Context, k cache.Key) (bool, error) {
	if !r.CanWrite() {
		return false, nil
	}
	_, err := remote.Head(tag(r.to, k), r.remote(ctx)...)
	if err == nil {
		return true, nil
	}
	if err = classify("look up "+k.Short(), r.to, err); errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return false, err
}

// Image returns the docker image shared under k (kind: cache.KindDockerStep
// or cache.KindDockerImage) in the -cache-from repository, and what it
// says of itself; an error wrapping ErrNotFound when there is none.
func (r *Registry) Image(ctx context.Context, k cache.Key, kind string) (v1.Image, Meta, error) {
	if !r.CanRead() {
		return nil, Meta{}, ErrNotFound
	}
	t := tag(r.from, k)
	img, err := remote.Image(t, r.remote(ctx)...)
	if err != nil {
		return nil, Meta{}, classify("image "+k.Short(), r.from, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, Meta{}, classify("image "+k.Short(), r.from, err)
	}
	meta := metaOf(m.Annotations)
	if err := meta.check(k, kind); err != nil {
		return nil, Meta{}, err
	}
	return img, meta, nil
}

// PushImage writes img under m.Key's tag in the -cache-to repository, with
// m in its manifest's annotations. Layers the registry holds are not sent
// again.
func (r *Registry) PushImage(ctx context.Context, img v1.Image, m Meta) error {
	if !r.CanWrite() {
		return nil
	}
	t := tag(r.to, m.Key)
	annotated, err := annotate(img, m.annotations())
	if err != nil {
		return err
	}
	if err := remote.Write(t, annotated, r.remote(ctx)...); err != nil {
		return classify("push "+m.Key.Short(), r.to, err)
	}
	return nil
}

// annotatedImage is an image whose manifest carries annotations, with
// its config and layers untouched. (mutate.Annotations would marshal the
// config again, changing its digest, which is a docker image's id.)
type annotatedImage struct {
	v1.Image
	manifest *v1.Manifest
	raw      []byte
}

func annotate(img v1.Image, a map[string]string) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("annotate image: %w", err)
	}
	m = m.DeepCopy()
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	for k, v := range a {
		m.Annotations[k] = v
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("annotate image: %w", err)
	}
	return &annotatedImage{Image: img, manifest: m, raw: raw}, nil
}

func (a *annotatedImage) Manifest() (*v1.Manifest, error) { return a.manifest.DeepCopy(), nil }
func (a *annotatedImage) RawManifest() ([]byte, error)    { return a.raw, nil }
func (a *annotatedImage) Size() (int64, error)            { return int64(len(a.raw)), nil }
func (a *annotatedImage) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(a.raw))
	return h, err
}

// PushFile writes the file at path (a qemu disk whose sha256 digest is
// digest) as an OCI artifact under m.Key's tag in the -cache-to
// repository.
func (r *Registry) PushFile(ctx context.Context, path, digest string, m Meta) error {
	if !r.CanWrite() {
		return nil
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return fmt.Errorf("push %s: digest %q: %w", path, digest, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	layer := &fileLayer{path: path, digest: h, size: fi.Size()}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: MediaTypeDisk,
		Annotations: map[string]string{"org.opencontainers.image.title": filepath.Base(path)}})
	if err != nil {
		return err
	}
	annotated, ok := mutate.Annotations(img, m.annotations()).(v1.Image)
	if !ok {
		return errors.New("annotate artifact: not an image")
	}
	t := tag(r.to, m.Key)
	if err := remote.Write(t, annotated, r.remote(ctx)...); err != nil {
		return classify("push "+m.Key.Short(), r.to, err)
	}
	return nil
}

// File returns a reader of the file shared under k (a qemu disk) in the
// -cache-from repository, its digest and size, and what it says of
// itself. The caller checks the digest of what it reads.
func (r *Registry) File(ctx context.Context, k cache.Key, kind string) (io.ReadCloser, v1.Descriptor, Meta, error) {
	if !r.CanRead() {
		return nil, v1.Descriptor{}, Meta{}, ErrNotFound
	}
	t := tag(r.from, k)
	img, err := remote.Image(t, r.remote(ctx)...)
	if err != nil {
		return nil, v1.Descriptor{}, Meta{}, classify("artifact "+k.Short(), r.from, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, v1.Descriptor{}, Meta{}, classify("artifact "+k.Short(), r.from, err)
	}
	meta := metaOf(m.Annotations)
	if err := meta.check(k, kind); err != nil {
		return nil, v1.Descriptor{}, Meta{}, err
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeDisk {
		return nil, v1.Descriptor{}, Meta{}, fmt.Errorf("%w: artifact %s in %s has no disk layer", ErrNotFound, k.Short(), r.from.Name())
	}
	l, err := remote.Layer(r.from.Digest(m.Layers[0].Digest.String()), r.remote(ctx)...)
	if err != nil {
		return nil, v1.Descriptor{}, Meta{}, classify("disk of "+k.Short(), r.from, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, v1.Descriptor{}, Meta{}, classify("disk of "+k.Short(), r.from, err)
	}
	return rc, m.Layers[0], meta, nil
}

// fileLayer is a file sent as one blob, as it is (no compression), whose
// digest is known: the registry checks it as it receives it.
type fileLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

var _ v1.Layer = (*fileLayer)(nil)

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return MediaTypeDisk, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
