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
	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// A run is published, prod is pointed at it, and a deployer resolves the
// AMI in eu-west-1, every signature checked on the way.
func Example() {
	ctx := context.Background()
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	key, _ := artifacts.GenerateKey(artifacts.KeyECDSAP256)
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	st, _ := artifacts.NewRunManifest(artifacts.RunInfo{RunID: "run-1", CreatedAt: now, BakeVersion: "dev", TemplatePath: "golden.pkr.hcl", TemplateSHA256: strings.Repeat("0", 64)},
		[]artifacts.BuildRecord{{Name: "amazon-ebs.base", Builder: "amazon-ebs", Status: artifacts.StatusSucceeded, Started: now, Finished: now,
			Artifacts: []*artifacts.Artifact{{Items: []artifacts.Item{{ExternalIdentifier: "ami-0123456789abcdef0", Region: "eu-west-1", URI: "arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0", Format: "ami"}}}}}})
	bundle, _ := artifacts.SignStatement(st, key)

	repo, err := registry.Open(host+"/golden/base", registry.Options{})
	if err != nil {
		log.Fatal(err)
	}
	v, err := repo.Publish(ctx, bundle, registry.PublishOptions{})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := repo.SetChannel(ctx, "prod", v.Name, key, registry.SetOptions{By: "ci", Reason: "nightly"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("prod ->", rec.Version, "sequence", rec.Sequence)

	ref, _ := registry.ParseRef(host + "/golden/base:prod")
	res, err := repo.Resolve(ctx, ref, registry.ResolveOptions{Build: "amazon-ebs.base", Region: "eu-west-1", Key: key.Public()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Artifacts[0].Ref)
	// Output:
	// prod -> run-1 sequence 1
	// ami-0123456789abcdef0
}
