package registry_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/registry"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A run pushed an image; its signed run manifest is attached to it, and
// whoever pulls the image by digest checks the attestation with the
// public key.
func ExampleAttach() {
	ctx := context.Background()
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	img, _ := random.Image(64, 1)
	h, _ := img.Digest()
	image := host + "/team/app@" + h.String()
	ref, _ := name.NewDigest(image)
	if err := remote.Write(ref, img); err != nil {
		log.Fatal(err)
	}

	key, _ := artifacts.GenerateKey(artifacts.KeyECDSAP256)
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	st, _ := artifacts.NewRunManifest(artifacts.RunInfo{RunID: "run-1", CreatedAt: now, BakeVersion: "dev", TemplatePath: "app.pkr.hcl", TemplateSHA256: strings.Repeat("0", 64)},
		[]artifacts.BuildRecord{{Name: "docker.app", Builder: "docker", Status: artifacts.StatusSucceeded, Started: now, Finished: now,
			Artifacts: []*artifacts.Artifact{{Builder: "docker-push", Items: []artifacts.Item{{ExternalIdentifier: image, URI: image, Digest: h.String()}}}}}})
	bundle, _ := artifacts.SignStatement(st, key)

	images, _ := registry.PushedImages(bundle)
	for _, i := range images {
		a, err := registry.Attach(ctx, i, bundle, registry.Options{})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("attached at", strings.HasPrefix(a.Tag, "sha256-"), strings.HasSuffix(a.Tag, ".att"))
	}
	atts, err := registry.VerifyAttestations(ctx, image, key.Public(), registry.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(atts[0].Source, atts[0].RunID, atts[0].PredicateType)
	// Output:
	// attached at true true
	// tag run-1 https://bake.dev/manifest/v1
}
