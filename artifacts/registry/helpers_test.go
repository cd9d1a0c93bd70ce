package registry

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// fastRetry keeps a test against a failing registry from waiting out
// the default backoff.
var fastRetry = remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1})

// memRegistry starts go-containerregistry's in-process registry (it has
// the referrers API) behind wrap (nil: none) and returns its host:port.
func memRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(true))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// realRegistry is the loopback registry scripts/setup.sh starts (Debian's
// docker-registry, distribution 2.8, no referrers API).
func realRegistry(t *testing.T) string { return testenv.Registry(t) }

// anonymous is a keychain with no credentials, so tests do not read the
// machine's docker config.
var anonymous = authn.NewMultiKeychain()

// openRepo opens a fresh repository on host.
func openRepo(t *testing.T, host string) *Repo {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	r, err := Open(host+"/bake-test/golden-"+hex.EncodeToString(b[:]), Options{Keychain: anonymous, Remote: []remote.Option{fastRetry}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func genKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := artifacts.GenerateKey(artifacts.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// run describes a test run's deliverables.
type run struct {
	id    string
	ami   map[string]string // region -> ami id
	image string            // pushed image digest
	disk  string            // disk sha256
}

// runManifest makes a run manifest bundle with three builds (an AMI per
// region, a pushed image, a disk) signed by key (nil: unsigned).
func runManifest(t *testing.T, key crypto.Signer, r run) []byte {
	t.Helper()
	now := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	var amis []artifacts.Item
	for region, id := range r.ami {
		amis = append(amis, artifacts.Item{ExternalIdentifier: id, Region: region, URI: "arn:aws:ec2:" + region + "::image/" + id, Format: "ami"})
	}
	builds := []artifacts.BuildRecord{
		{Name: "amazon-ebs.base", Builder: "amazon-ebs", Status: artifacts.StatusSucceeded, Started: now, Finished: now,
			Artifacts: []*artifacts.Artifact{{Builder: "amazon-ebs", Build: "amazon-ebs.base", ID: "amis", Items: amis}}},
		{Name: "docker.base", Builder: "docker", Status: artifacts.StatusSucceeded, Started: now, Finished: now,
			Artifacts: []*artifacts.Artifact{{Builder: "docker-push", Build: "docker.base", ID: "img", Items: []artifacts.Item{{
				ExternalIdentifier: "sha256:" + strings.Repeat("c", 64), URI: "registry.example.com/base@" + r.image, Digest: r.image,
				MediaType: "application/vnd.oci.image.manifest.v1+json"}}}}},
		{Name: "qemu.base", Builder: "qemu", Status: artifacts.StatusSucceeded, Started: now, Finished: now,
			Artifacts: []*artifacts.Artifact{{Builder: "qemu", Build: "qemu.base", ID: "output/base.qcow2", Items: []artifacts.Item{{
				ExternalIdentifier: "output/base.qcow2", Digest: "sha256:" + r.disk, Size: 42, Format: "qcow2"}}}}},
		{Name: "docker.broken", Builder: "docker", Status: artifacts.StatusFailed, Err: errBroken, Started: now, Finished: now},
	}
	st, err := artifacts.NewRunManifest(artifacts.RunInfo{RunID: r.id, Bucket: "golden", CreatedAt: now, BakeVersion: "test",
		TemplatePath: "golden.pkr.hcl", TemplateSHA256: strings.Repeat("0", 64)}, builds)
	if err != nil {
		t.Fatal(err)
	}
	b, err := artifacts.SignStatement(st, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type brokenErr struct{}

func (brokenErr) Error() string { return "provisioner failed" }

var errBroken = brokenErr{}

func sum(c string) string { return strings.Repeat(c, 64) }

// twoRuns are the flow's runs: the first and the second nightly.
var twoRuns = []run{
	{id: "run-1", ami: map[string]string{"eu-west-1": "ami-0000000000000001a", "us-east-1": "ami-0000000000000001b"}, image: "sha256:" + sum("1"), disk: sum("a")},
	{id: "run-2", ami: map[string]string{"eu-west-1": "ami-0000000000000002a", "us-east-1": "ami-0000000000000002b"}, image: "sha256:" + sum("2"), disk: sum("b")},
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
