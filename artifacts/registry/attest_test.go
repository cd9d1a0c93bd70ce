package registry

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
)

// pushImage pushes a small random image to repo and returns it by digest.
func pushImage(t *testing.T, repo *Repo) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref := repo.repo.Digest(h.String())
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(anonymous), fastRetry); err != nil {
		t.Fatalf("push image: %v", err)
	}
	return ref.Name()
}

// pushRunManifest is a run manifest signed by key (nil: unsigned) whose
// docker-push build pushed image (REG/REPO@sha256:…).
func pushRunManifest(t testing.TB, key crypto.Signer, image string) []byte {
	t.Helper()
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	_, dig, _ := strings.Cut(image, "@")
	builds := []artifacts.BuildRecord{{
		Name: "docker.app", Builder: "docker", Status: artifacts.StatusSucceeded, Started: now, Finished: now,
		Artifacts: []*artifacts.Artifact{{Builder: "docker-push", Build: "docker.app", ID: image, Items: []artifacts.Item{{
			ExternalIdentifier: image, URI: image, Digest: dig, MediaType: "application/vnd.oci.image.manifest.v1+json"}}}},
	}}
	st, err := artifacts.NewRunManifest(artifacts.RunInfo{RunID: "run-att", CreatedAt: now, BakeVersion: "test",
		TemplatePath: "app.pkr.hcl", TemplateSHA256: strings.Repeat("0", 64)}, builds)
	if err != nil {
		t.Fatal(err)
	}
	b, err := artifacts.SignStatement(st, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testOpts() Options { return Options{Keychain: anonymous, Remote: []remote.Option{fastRetry}} }

// TestAttach attaches a run's statement to the image it pushed on both
// registries: cosign's .att tag everywhere, a referrer where the registry
// has the API; again is a no-op; it verifies, and cosign 2.x accepts it
// when it is installed.
func TestAttach(t *testing.T) {
	for _, tc := range []struct {
		name      string
		host      func(*testing.T) string
		referrers bool
	}{
		{"in-process", func(t *testing.T) string { return memRegistry(t, nil) }, true},
		{"distribution", realRegistry, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			repo := openRepo(t, tc.host(t))
			key := genKey(t)
			image := pushImage(t, repo)
			bundle := pushRunManifest(t, key, image)

			imgs, err := PushedImages(bundle)
			if err != nil || len(imgs) != 1 || imgs[0] != image {
				t.Fatalf("PushedImages = %v, %v; want [%s]", imgs, err, image)
			}
			a, err := Attach(ctx, image, bundle, testOpts())
			if err != nil {
				t.Fatalf("attach: %v", err)
			}
			d, _ := name.NewDigest(image)
			wantTag := strings.Replace(d.DigestStr(), ":", "-", 1) + ".att"
			if a.Tag != wantTag || !a.Added || (a.Referrer != "") != tc.referrers {
				t.Fatalf("attach = %+v, want tag %s added, referrer %t", a, wantTag, tc.referrers)
			}
			again, err := Attach(ctx, image, bundle, testOpts())
			if err != nil || again.Added || again.Referrer != a.Referrer {
				t.Fatalf("attach again = %+v, %v; want nothing added, same referrer", again, err)
			}

			// The tag holds what cosign reads: an OCI image manifest with one
			// DSSE layer annotated as cosign attest annotates it.
			img, err := remote.Image(repo.repo.Tag(wantTag), remote.WithAuthFromKeychain(anonymous))
			if err != nil {
				t.Fatal(err)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Layers) != 1 || m.Layers[0].MediaType != DSSEMediaType ||
				m.Layers[0].Annotations["predicateType"] != artifacts.PredicateTypeV1 {
				t.Fatalf("attestation manifest layers = %+v", m.Layers)
			}
			if v, ok := m.Layers[0].Annotations["dev.cosignproject.cosign/signature"]; !ok || v != "" {
				t.Fatalf("layer lacks cosign's empty signature annotation: %v", m.Layers[0].Annotations)
			}

			atts, err := VerifyAttestations(ctx, image, key.Public(), testOpts())
			want := 1
			if tc.referrers {
				want = 2
			}
			if err != nil || len(atts) != want {
				t.Fatalf("verify = %+v, %v; want %d attestations", atts, err, want)
			}
			for _, at := range atts {
				if at.RunID != "run-att" || at.PredicateType != artifacts.PredicateTypeV1 {
					t.Fatalf("attestation %+v: want run-att, %s", at, artifacts.PredicateTypeV1)
				}
			}
			if _, err := VerifyAttestations(ctx, image, genKey(t).Public(), testOpts()); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("verify with another key: err = %v, want ErrBadSignature", err)
			}
			cosignVerify(t, key.Public(), image, true)
		})
	}
}

// TestAttachTampered: a .att tag whose statement was edited after
// signing, or that is about another image, is refused (and by cosign).
func TestAttachTampered(t *testing.T) {
	ctx := ctxT(t)
	repo := openRepo(t, realRegistry(t))
	key := genKey(t)
	image := pushImage(t, repo)
	other := pushImage(t, repo)
	if _, err := Attach(ctx, image, pushRunManifest(t, key, image), testOpts()); err != nil {
		t.Fatal(err)
	}
	d, _ := name.NewDigest(image)
	tag := repo.repo.Tag(attTag(d))
	img, err := remote.Image(tag, remote.WithAuthFromKeychain(anonymous))
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	rc, _ := layers[0].Compressed()
	var env artifacts.Envelope
	if err := json.NewDecoder(rc).Decode(&env); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	env.Payload = bytes.Replace(env.Payload, []byte("run-att"), []byte("run-evil"), 1)
	forged, _ := json.Marshal(env)
	m, _ := img.Manifest()
	bad, err := mutate.Append(attBase(), mutate.Addendum{Layer: static.NewLayer(forged, DSSEMediaType), Annotations: m.Layers[0].Annotations})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, bad, remote.WithAuthFromKeychain(anonymous)); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAttestations(ctx, image, key.Public(), testOpts()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("verify tampered: err = %v, want ErrBadSignature", err)
	}
	cosignVerify(t, key.Public(), image, false)

	// A statement about image is not attached to other...
	if _, err := Attach(ctx, other, pushRunManifest(t, key, image), testOpts()); err == nil || !strings.Contains(err.Error(), "not list") {
		t.Fatalf("attach a statement about another image: err = %v", err)
	}
	// ...and image's genuine attestation copied to other's tag is refused.
	od, _ := name.NewDigest(other)
	if err := remote.Write(repo.repo.Tag(attTag(od)), img, remote.WithAuthFromKeychain(anonymous)); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAttestations(ctx, other, key.Public(), testOpts()); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "not about") {
		t.Fatalf("verify a copied attestation: err = %v, want ErrBadSignature (not about this image)", err)
	}
	// Nothing attached at all.
	third := pushImage(t, repo)
	if _, err := VerifyAttestations(ctx, third, key.Public(), testOpts()); !errors.Is(err, ErrNoAttestation) {
		t.Fatalf("verify an image without attestation: err = %v, want ErrNoAttestation", err)
	}
}

// TestAttachRefused: a registry that refuses the write gives a clear
// error naming the credentials; an unsigned manifest is refused before
// anything is written.
func TestAttachRefused(t *testing.T) {
	ctx := ctxT(t)
	host := memRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, ".att") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(`{"errors":[{"code":"DENIED","message":"push to attestation tags is forbidden"}]}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	repo := openRepo(t, host)
	key := genKey(t)
	image := pushImage(t, repo)
	_, err := Attach(ctx, image, pushRunManifest(t, key, image), testOpts())
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), ".att") {
		t.Fatalf("attach to a refusing registry: err = %v, want ErrAuth naming the tag", err)
	}
	if _, err := Attach(ctx, image, pushRunManifest(t, nil, image), testOpts()); !errors.Is(err, artifacts.ErrUnsigned) {
		t.Fatalf("attach unsigned: err = %v, want ErrUnsigned", err)
	}
}

// cosignBinary finds cosign 2.x: $BAKE_COSIGN, then PATH, then the
// place scripts/cosign.sh builds it into.
func cosignBinary() string {
	for _, p := range []string{os.Getenv("BAKE_COSIGN"), "/var/cache/bake-fixtures/cosign/cosign"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	return ""
}

// cosignVerify runs cosign verify-attestation when cosign is installed
// and checks that it accepts (ok) or refuses the image's attestation.
// Without cosign it logs that only bake's own verifier ran.
func cosignVerify(t *testing.T, pub crypto.PublicKey, image string, ok bool) {
	t.Helper()
	bin := cosignBinary()
	if bin == "" {
		t.Logf("cosign not installed (scripts/cosign.sh builds it): only bake's verifier of cosign's layout ran")
		return
	}
	pem, err := artifacts.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "bake.pub")
	if err := os.WriteFile(keyFile, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctxT(t), bin, "verify-attestation", "--key", keyFile, "--insecure-ignore-tlog",
		"--type", artifacts.PredicateTypeV1, "--allow-insecure-registry", "--allow-http-registry", image)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "TUF_ROOT="+t.TempDir(), "SIGSTORE_NO_CACHE=1")
	out, err := cmd.CombinedOutput()
	switch {
	case ok && err != nil:
		t.Fatalf("cosign verify-attestation refused it: %v\n%s", err, out)
	case !ok && err == nil:
		t.Fatalf("cosign verify-attestation accepted a tampered attestation:\n%s", out)
	}
	t.Logf("cosign verify-attestation (%s): ok=%t: %.300s", bin, ok, out)
}

// TestAttachReferrerForged: on a registry with the referrers API, a
// referrer bundle signed by another key, about the image, is refused.
func TestAttachReferrerForged(t *testing.T) {
	ctx := ctxT(t)
	repo := openRepo(t, memRegistry(t, nil))
	key := genKey(t)
	image := pushImage(t, repo)
	if _, err := Attach(ctx, image, pushRunManifest(t, key, image), testOpts()); err != nil {
		t.Fatal(err)
	}
	forged := pushRunManifest(t, genKey(t), image)
	d, _ := name.NewDigest(image)
	desc, err := remote.Head(d, remote.WithAuthFromKeychain(anonymous))
	if err != nil {
		t.Fatal(err)
	}
	st, _, _ := inspectBundle(forged)
	if _, err := repo.putReferrer(ctx, desc, forged, st, nil); err != nil {
		t.Fatal(err)
	}
	atts, err := VerifyAttestations(ctx, image, key.Public(), testOpts())
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "referrer") || len(atts) != 2 {
		t.Fatalf("verify with a forged referrer: %+v, %v; want the two genuine ones and ErrBadSignature naming the referrer", atts, err)
	}
}
