package registry

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// published returns a repository with run-1 and run-2 published and prod
// set to run-1 then run-2, all signed by key.
func published(t *testing.T, host string) (*Repo, context.Context, keyPair) {
	t.Helper()
	ctx := ctxT(t)
	repo := openRepo(t, host)
	k := keyPair{genKey(t)}
	for i, r := range twoRuns {
		if _, err := repo.Publish(ctx, runManifest(t, k.Signer, r), PublishOptions{}); err != nil {
			t.Fatalf("publish run %d: %v", i+1, err)
		}
		if _, err := repo.SetChannel(ctx, "prod", r.id, k.Signer, SetOptions{}); err != nil {
			t.Fatalf("channel set prod %s: %v", r.id, err)
		}
	}
	return repo, ctx, k
}

type keyPair struct{ Signer crypto.Signer }

func TestTamperedBlob(t *testing.T) {
	// A registry (or a mirror) that serves other bytes for the bundle's
	// digest: the read fails on the digest, whatever the bytes are.
	var swap atomic.Value // map[string][]byte: path -> body
	swap.Store(map[string][]byte{})
	host := memRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body, ok := swap.Load().(map[string][]byte)[r.URL.Path]; ok && r.Method == http.MethodGet {
				w.Write(body)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	repo, ctx, k := published(t, host)
	s, err := repo.get(ctx, repo.repo.Tag("run-2"), "version", ArtifactTypeVersion)
	if err != nil {
		t.Fatal(err)
	}
	other := runManifest(t, k.Signer, run{id: "run-2", ami: map[string]string{"eu-west-1": "ami-0evil"}, image: twoRuns[1].image, disk: sum("e")})
	swap.Store(map[string][]byte{"/v2/" + repo.repo.RepositoryStr() + "/blobs/" + s.BundleDigest: other})

	for _, ref := range []Ref{{Channel: "prod"}, {Version: "run-2"}} {
		res, err := repo.Resolve(ctx, ref, ResolveOptions{Build: "amazon-ebs.base", Region: "eu-west-1", Key: k.Signer.Public()})
		if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("resolve %+v with a swapped bundle blob = %+v, %v; want ErrBadSignature", ref, res, err)
		}
	}
}

func TestVersionRetaggedToForeignBundle(t *testing.T) {
	// Someone with write access to the registry points run-2's tag at a
	// bundle signed by another key: resolve refuses it, by version and by
	// channel (the channel pins the digest, so it still gets the real one).
	repo, ctx, k := published(t, memRegistry(t, nil))
	evil := runManifest(t, genKey(t), run{id: "run-2", ami: map[string]string{"eu-west-1": "ami-0evil"}, image: twoRuns[1].image, disk: sum("e")})
	if _, err := repo.put(ctx, "run-2", ArtifactTypeVersion, evil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Resolve(ctx, Ref{Version: "run-2"}, ResolveOptions{Build: "qemu.base", Key: k.Signer.Public()}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("resolve @run-2 re-tagged to a foreign bundle: err = %v, want ErrBadSignature", err)
	}
	res, err := repo.Resolve(ctx, Ref{Channel: "prod"}, ResolveOptions{Build: "amazon-ebs.base", Region: "eu-west-1", Key: k.Signer.Public()})
	if err != nil || res.Artifacts[0].Ref != "ami-0000000000000002a" {
		t.Fatalf("resolve prod = %+v, %v; want the AMI of the version it pinned", res, err)
	}
}

func TestChannelRecordSignedByAnotherKey(t *testing.T) {
	repo, ctx, k := published(t, memRegistry(t, nil))
	_, d1, err := repo.VersionBundle(ctx, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	evilKey := genKey(t)
	rec := ChannelRecord{Repository: repo.repo.RepositoryStr(), Channel: "prod", Version: "run-1", VersionDigest: d1, Sequence: 99, Previous: "sha256:" + sum("0")}
	b, err := signRecord(PredicateTypeChannel, "run-1", d1, &rec, evilKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.put(ctx, "channel-prod", ArtifactTypeChannel, b, nil); err != nil {
		t.Fatal(err)
	}
	_, err = repo.Resolve(ctx, Ref{Channel: "prod"}, ResolveOptions{Build: "qemu.base", Key: k.Signer.Public()})
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "names signing key") {
		t.Fatalf("resolve prod with a record signed by another key: err = %v, want ErrBadSignature naming the keys", err)
	}
	// Nor can the rightful signer extend that chain without noticing.
	if _, err := repo.SetChannel(ctx, "prod", "run-2", k.Signer, SetOptions{}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("channel set over a foreign record: err = %v, want ErrBadSignature", err)
	}
}

func TestReplayedRecord(t *testing.T) {
	repo, ctx, k := published(t, memRegistry(t, nil))
	hist, err := repo.History(ctx, "prod", k.Signer.Public())
	if err != nil || len(hist) != 2 {
		t.Fatalf("history = %d records, %v", len(hist), err)
	}
	// Put record 1 (genuinely signed) back at the channel's tag.
	old, err := remote.Get(repo.repo.Digest(hist[1].Digest), repo.remote(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(repo.repo.Tag("channel-prod"), old, repo.remote(ctx)...); err != nil {
		t.Fatal(err)
	}
	o := ResolveOptions{Build: "amazon-ebs.base", Region: "eu-west-1", Key: k.Signer.Public(), MinSequence: 2}
	if res, err := repo.Resolve(ctx, Ref{Channel: "prod"}, o); !errors.Is(err, ErrStale) {
		t.Fatalf("resolve prod -min-sequence 2 with record 1 replayed = %+v, %v; want ErrStale", res, err)
	}

	// A record copied from another channel is refused too.
	if _, err := repo.SetChannel(ctx, "staging", "run-2", k.Signer, SetOptions{}); err != nil {
		t.Fatal(err)
	}
	staging, err := remote.Get(repo.repo.Tag("channel-staging"), repo.remote(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(repo.repo.Tag("channel-prod"), staging, repo.remote(ctx)...); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Resolve(ctx, Ref{Channel: "prod"}, o); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "staging") {
		t.Fatalf("resolve prod with staging's record copied over it: err = %v, want ErrBadSignature naming staging", err)
	}
}

func TestRegistryRefusesAuth(t *testing.T) {
	host := memRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "right-password" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx := ctxT(t)
	k := genKey(t)
	b := runManifest(t, k, twoRuns[0])
	open := func(pw string) *Repo {
		r, err := Open(host+"/bake-test/auth", Options{Keychain: staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "ci", Password: pw})}, Remote: []remote.Option{fastRetry}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	_, err := open("wrong-password").Publish(ctx, b, PublishOptions{})
	if !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("publish with wrong credentials: err = %v, want ErrAuth without the password", err)
	}
	good := open("right-password")
	if _, _, err := good.VersionBundle(ctx, "run-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the refused publish, run-1: err = %v, want ErrNotFound", err)
	}
	if _, err := good.Publish(ctx, b, PublishOptions{}); err != nil {
		t.Fatalf("publish with the right credentials: %v", err)
	}
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

func TestRegistryDiesMidUpload(t *testing.T) {
	for _, tc := range []struct {
		name string
		dies func(r *http.Request) bool
	}{
		{"blob upload", func(r *http.Request) bool {
			return (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/")
		}},
		{"manifest", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256:")
		}},
		{"tag", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && !strings.Contains(r.URL.Path, "/manifests/sha256:")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var down atomic.Bool
			host := memRegistry(t, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if down.Load() && tc.dies(r) {
						// The connection drops mid-request, as when the
						// registry's process dies.
						conn, _, err := w.(http.Hijacker).Hijack()
						if err == nil {
							conn.Close()
						}
						return
					}
					h.ServeHTTP(w, r)
				})
			})
			ctx := ctxT(t)
			repo := openRepo(t, host)
			k := genKey(t)
			b := runManifest(t, k, twoRuns[0])
			down.Store(true)
			if _, err := repo.Publish(ctx, b, PublishOptions{}); err == nil {
				t.Fatal("publish while the registry dies: no error")
			}
			down.Store(false)
			if _, _, err := repo.VersionBundle(ctx, "run-1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after the failed publish, run-1: err = %v, want ErrNotFound (never half a version)", err)
			}
			if vs, err := repo.Versions(ctx, nil); err != nil || len(vs) != 0 {
				t.Fatalf("versions after the failed publish = %+v, %v; want none", vs, err)
			}
			v, err := repo.Publish(ctx, b, PublishOptions{})
			if err != nil || !v.Published {
				t.Fatalf("publish again once the registry is back = %+v, %v", v, err)
			}
			got, _, err := repo.VersionBundle(ctx, "run-1")
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("run-1 after the retry: %v", err)
			}
		})
	}
}

func TestRevokedContentUnderAnotherName(t *testing.T) {
	// run-1 is revoked; someone with write access points run-2's tag at
	// run-1's manifest (genuinely signed). Resolving run-2 must not hand
	// out the revoked image, and nor may a channel be pointed at it.
	repo, ctx, k := published(t, memRegistry(t, nil))
	if _, err := repo.Revoke(ctx, "run-1", k.Signer, SetOptions{Reason: "CVE"}); err != nil {
		t.Fatal(err)
	}
	old, err := remote.Get(repo.repo.Tag("run-1"), repo.remote(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(repo.repo.Tag("run-2"), old, repo.remote(ctx)...); err != nil {
		t.Fatal(err)
	}
	res, err := repo.Resolve(ctx, Ref{Version: "run-2"}, ResolveOptions{Build: "amazon-ebs.base", Region: "eu-west-1", Key: k.Signer.Public()})
	if !errors.Is(err, ErrRevoked) {
		t.Fatalf("resolve @run-2 pointing at revoked run-1's manifest = %+v, %v; want ErrRevoked", res, err)
	}
	if _, err := repo.SetChannel(ctx, "staging", "run-2", k.Signer, SetOptions{}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("channel set staging run-2 (revoked content): err = %v, want ErrRevoked", err)
	}
	// The same bundle under a new manifest (other annotations) is caught
	// by the bundle's digest.
	b1, _, err := repo.VersionBundle(ctx, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.put(ctx, "run-3", ArtifactTypeVersion, b1, map[string]string{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Resolve(ctx, Ref{Version: "run-3"}, ResolveOptions{Build: "qemu.base", Key: k.Signer.Public()}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("resolve @run-3 holding run-1's bundle: err = %v, want ErrRevoked", err)
	}
}

func TestSetChannelVerifiesVersion(t *testing.T) {
	// A version whose bundle is not signed by the channel's key is not
	// promoted: resolve would refuse it anyway.
	repo, ctx, k := published(t, memRegistry(t, nil))
	evil := runManifest(t, genKey(t), run{id: "run-x", ami: map[string]string{"eu-west-1": "ami-0evil"}, image: twoRuns[1].image, disk: sum("e")})
	if _, err := repo.Publish(ctx, evil, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.SetChannel(ctx, "prod", "run-x", k.Signer, SetOptions{}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("channel set prod to a version signed by another key: err = %v, want ErrBadSignature", err)
	}
}

func TestVersionsReportsUnreadableVersion(t *testing.T) {
	// A version the registry fails to serve is an error, not silently
	// missing from the list.
	var failing atomic.Bool
	host := memRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing.Load() && strings.HasSuffix(r.URL.Path, "/manifests/run-2") {
				http.Error(w, "storage backend down", http.StatusBadGateway)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	repo, ctx, k := published(t, host)
	failing.Store(true)
	vs, err := repo.Versions(ctx, k.Signer.Public())
	if err == nil || !strings.Contains(err.Error(), "run-2") {
		t.Fatalf("versions with run-2 unreadable = %+v, %v; want an error naming run-2", vs, err)
	}
}
