package share

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bake-tool/bake/cache"
)

func key(c byte) cache.Key { return cache.Key("sha256:" + strings.Repeat(string(c), 64)) }

// TestShareRoundTrip pushes an image and a disk to an in-memory registry
// and reads them back: the image keeps its config digest (a docker
// image's id), the disk its bytes, both their metadata; a key the
// registry lacks, or a tag holding another key's entry, is not found.
func TestShareRoundTrip(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/team/cache"
	r, err := Open(repo, repo)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := img.ConfigName()
	meta := Meta{Key: key('a'), Kind: cache.KindDockerStep, RunID: "run-1", Build: "docker.c", Step: "provisioner shell 3"}
	if has, err := r.Has(ctx, meta.Key); err != nil || has {
		t.Fatalf("Has before the push: %v %v", has, err)
	}
	if err := r.PushImage(ctx, img, meta); err != nil {
		t.Fatal(err)
	}
	if has, err := r.Has(ctx, meta.Key); err != nil || !has {
		t.Fatalf("Has after the push: %v %v", has, err)
	}
	got, gm, err := r.Image(ctx, meta.Key, cache.KindDockerStep)
	if err != nil {
		t.Fatal(err)
	}
	if gid, _ := got.ConfigName(); gid != id {
		t.Errorf("config digest %s after the round trip, want %s", gid, id)
	}
	if gm != meta {
		t.Errorf("meta %+v, want %+v", gm, meta)
	}
	if _, _, err := r.Image(ctx, meta.Key, cache.KindDockerImage); !errors.Is(err, ErrNotFound) {
		t.Errorf("the step entry read as a final image: %v", err)
	}
	if _, _, err := r.Image(ctx, key('b'), cache.KindDockerStep); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing key: %v, want ErrNotFound", err)
	}

	// A disk, sent as it is.
	disk := filepath.Join(t.TempDir(), "disk")
	data := []byte(strings.Repeat("qcow", 10000))
	os.WriteFile(disk, data, 0o600)
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	dm := Meta{Key: key('c'), Kind: cache.KindQemuDisk, RunID: "run-2"}
	if err := r.PushFile(ctx, disk, digest, dm); err != nil {
		t.Fatal(err)
	}
	rc, desc, m2, err := r.File(ctx, dm.Key, cache.KindQemuDisk)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != string(data) || desc.Digest.String() != digest || m2.RunID != "run-2" {
		t.Errorf("disk round trip: %d bytes, digest %s, meta %+v, %v", len(b), desc.Digest, m2, err)
	}

	// A tag that holds another key's entry is not used.
	ref, _ := Open(repo, "")
	other, _ := Open("", repo)
	if err := other.PushImage(ctx, img, Meta{Key: key('d'), Kind: cache.KindDockerStep}); err != nil {
		t.Fatal(err)
	}
	src := r.to.Tag(key('d').Hex())
	desc2, _ := remote.Get(src)
	if err := remote.Tag(r.to.Tag(key('e').Hex()), desc2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ref.Image(ctx, key('e'), cache.KindDockerStep); !errors.Is(err, ErrNotFound) {
		t.Errorf("another key's entry under e's tag: %v, want ErrNotFound", err)
	}
}

// TestShareOpen checks the flags' values are repositories.
func TestShareOpen(t *testing.T) {
	if r, err := Open("", ""); r != nil || err != nil {
		t.Fatalf("no flags: %v %v", r, err)
	}
	for _, bad := range []string{"Bad Repo", "reg.example.com/x:tag", "reg.example.com/x@sha256:" + strings.Repeat("a", 64)} {
		if _, err := Open(bad, ""); err == nil || !strings.Contains(err.Error(), "-cache-from") {
			t.Errorf("-cache-from %q: %v; want an error naming the flag", bad, err)
		}
	}
	r, err := Open("127.0.0.1:5000/a", "127.0.0.1:5000/b")
	if err != nil || r.From() != "127.0.0.1:5000/a" || r.To() != "127.0.0.1:5000/b" || !r.CanRead() || !r.CanWrite() {
		t.Fatalf("Open: %+v %v", r, err)
	}
}

// TestShareRefusingRegistry checks that a registry that refuses is an
// error that names it and is not ErrNotFound (callers warn and go on),
// while one that answers 404 is ErrNotFound (a plain miss).
func TestShareRefusingRegistry(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`))
	}))
	defer refusing.Close()
	repo := strings.TrimPrefix(refusing.URL, "http://") + "/team/cache"
	r, err := Open(repo, repo)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	img, _ := random.Image(64, 1)
	for name, err := range map[string]error{
		"Has":       func() error { _, err := r.Has(ctx, key('a')); return err }(),
		"Image":     func() error { _, _, err := r.Image(ctx, key('a'), cache.KindDockerStep); return err }(),
		"File":      func() error { _, _, _, err := r.File(ctx, key('a'), cache.KindQemuDisk); return err }(),
		"PushImage": r.PushImage(ctx, img, Meta{Key: key('a'), Kind: cache.KindDockerStep}),
	} {
		if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), repo) {
			t.Errorf("%s against a refusing registry: %v; want an error naming %s that is not ErrNotFound", name, err, repo)
		}
	}
}
