package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestFlow is the deployer's story on both registries: publish two runs,
// point prod at the first and then the second, resolve, roll back,
// resolve again, revoke, and resolve fails.
func TestFlow(t *testing.T) {
	for _, tc := range []struct {
		name string
		host func(*testing.T) string
	}{
		{"in-process", func(t *testing.T) string { return memRegistry(t, nil) }},
		{"distribution", realRegistry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			repo := openRepo(t, tc.host(t))
			key := genKey(t)
			pub := key.Public()
			b1, b2 := runManifest(t, key, twoRuns[0]), runManifest(t, key, twoRuns[1])

			v1, err := repo.Publish(ctx, b1, PublishOptions{Key: pub})
			if err != nil {
				t.Fatalf("publish run 1: %v", err)
			}
			if v1.Name != "run-1" || !v1.Published {
				t.Fatalf("publish run 1 = %+v, want version run-1, published", v1)
			}
			v2, err := repo.Publish(ctx, b2, PublishOptions{Version: "2026.11.30"})
			if err != nil {
				t.Fatalf("publish run 2: %v", err)
			}
			again, err := repo.Publish(ctx, b1, PublishOptions{})
			if err != nil || again.Published || again.Digest != v1.Digest {
				t.Fatalf("publish run 1 again = %+v, %v; want a no-op with digest %s", again, err, v1.Digest)
			}
			if _, err := repo.Publish(ctx, b2, PublishOptions{Version: "run-1"}); !errors.Is(err, ErrVersionExists) {
				t.Fatalf("publish other content as run-1: err = %v, want ErrVersionExists", err)
			}
			stored, _, err := repo.VersionBundle(ctx, "run-1")
			if err != nil || string(stored) != string(b1) {
				t.Fatalf("run-1 after the refused overwrite: %v (content changed: %t)", err, string(stored) != string(b1))
			}

			set := func(version string, seq uint64) {
				t.Helper()
				rec, err := repo.SetChannel(ctx, "prod", version, key, SetOptions{By: "ci", Reason: "nightly"})
				if err != nil {
					t.Fatalf("channel set prod %s: %v", version, err)
				}
				if rec.Sequence != seq || rec.Version != version {
					t.Fatalf("channel set prod %s: record %+v, want sequence %d", version, rec.ChannelRecord, seq)
				}
			}
			resolve := func(want string, seq uint64) {
				t.Helper()
				res, err := repo.Resolve(ctx, Ref{Channel: "prod"}, ResolveOptions{Build: "amazon-ebs.base", Region: "eu-west-1", Key: pub, MinSequence: 1})
				if err != nil {
					t.Fatalf("resolve prod: %v", err)
				}
				if len(res.Artifacts) != 1 || res.Artifacts[0].Ref != want || res.Sequence != seq {
					t.Fatalf("resolve prod = %+v (sequence %d), want %s at sequence %d", res.Artifacts, res.Sequence, want, seq)
				}
			}
			set("run-1", 1)
			set(v2.Name, 2)
			resolve("ami-0000000000000002a", 2)

			rec, err := repo.Rollback(ctx, "prod", key, SetOptions{By: "oncall"})
			if err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if rec.Version != "run-1" || rec.Sequence != 3 || rec.VersionDigest != v1.Digest {
				t.Fatalf("rollback record = %+v, want run-1 (%s) at sequence 3", rec.ChannelRecord, v1.Digest)
			}
			resolve("ami-0000000000000001a", 3)

			hist, err := repo.History(ctx, "prod", pub)
			if err != nil {
				t.Fatalf("history: %v", err)
			}
			var got []string
			for _, h := range hist {
				got = append(got, h.Version)
			}
			if len(got) != 3 || got[0] != "run-1" || got[1] != "2026.11.30" || got[2] != "run-1" {
				t.Fatalf("history = %v, want [run-1 2026.11.30 run-1] (newest first)", got)
			}

			// The other deliverables of the version.
			res, err := repo.Resolve(ctx, Ref{Version: "2026.11.30"}, ResolveOptions{Build: "docker.base", Key: pub})
			if err != nil || res.Artifacts[0].Ref != "registry.example.com/base@"+twoRuns[1].image {
				t.Fatalf("resolve @2026.11.30 docker.base = %+v, %v", res, err)
			}
			res, err = repo.Resolve(ctx, Ref{Version: "2026.11.30"}, ResolveOptions{Build: "base", Key: pub})
			if !errors.Is(err, ErrNoBuild) {
				t.Fatalf("resolve ambiguous build 'base' = %+v, %v; want ErrNoBuild", res, err)
			}
			res, err = repo.Resolve(ctx, Ref{Version: "2026.11.30"}, ResolveOptions{Build: "qemu.base", Key: pub})
			if err != nil || res.Artifacts[0].Kind != "file" || res.Artifacts[0].SHA256 != twoRuns[1].disk {
				t.Fatalf("resolve qemu.base = %+v, %v", res, err)
			}
			for _, c := range []struct {
				o    ResolveOptions
				want error
			}{
				{ResolveOptions{Build: "qemu.nope"}, ErrNoBuild},
				{ResolveOptions{Build: "docker.broken"}, ErrNoBuild},
				{ResolveOptions{Build: "amazon-ebs.base", Region: "ap-south-1"}, ErrNoRegion},
				{ResolveOptions{Build: "amazon-ebs.base"}, ErrNoRegion},
			} {
				c.o.Key = pub
				if _, err := repo.Resolve(ctx, Ref{Version: "run-1"}, c.o); !errors.Is(err, c.want) {
					t.Errorf("resolve @run-1 %+v: err = %v, want %v", c.o, err, c.want)
				}
			}
			if _, err := repo.Resolve(ctx, Ref{Version: "run-9"}, ResolveOptions{Build: "qemu.base", Key: pub}); !errors.Is(err, ErrNotFound) {
				t.Errorf("resolve @run-9: err = %v, want ErrNotFound", err)
			}
			if _, err := repo.Resolve(ctx, Ref{Channel: "staging"}, ResolveOptions{Build: "qemu.base", Key: pub}); !errors.Is(err, ErrNotFound) {
				t.Errorf("resolve :staging: err = %v, want ErrNotFound", err)
			}

			if _, err := repo.Revoke(ctx, "run-1", key, SetOptions{By: "sec", Reason: "CVE-2026-0001"}); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if _, err := repo.Resolve(ctx, Ref{Channel: "prod"}, ResolveOptions{Build: "qemu.base", Key: pub}); !errors.Is(err, ErrRevoked) {
				t.Fatalf("resolve prod after revoking run-1: err = %v, want ErrRevoked", err)
			}
			if _, err := repo.Resolve(ctx, Ref{Version: "run-1"}, ResolveOptions{Build: "qemu.base", Key: pub}); !errors.Is(err, ErrRevoked) {
				t.Fatalf("resolve @run-1 after revoking it: err = %v, want ErrRevoked", err)
			}
			if _, err := repo.SetChannel(ctx, "staging", "run-1", key, SetOptions{}); !errors.Is(err, ErrRevoked) {
				t.Fatalf("channel set staging run-1 (revoked): err = %v, want ErrRevoked", err)
			}
			// Rolling back skips nothing here: prod's previous version is
			// 2026.11.30, which is fine.
			if rec, err := repo.Rollback(ctx, "prod", key, SetOptions{}); err != nil || rec.Version != "2026.11.30" {
				t.Fatalf("rollback after revoke = %+v, %v; want 2026.11.30", rec, err)
			}

			vs, err := repo.Versions(ctx, pub)
			if err != nil {
				t.Fatalf("versions: %v", err)
			}
			if len(vs) != 2 {
				t.Fatalf("versions = %+v, want 2", vs)
			}
			marks := map[string]VersionInfo{}
			for _, v := range vs {
				marks[v.Name] = v
			}
			if !marks["run-1"].Revoked || marks["run-1"].RevokedWhy != "CVE-2026-0001" || len(marks["run-1"].Channels) != 0 {
				t.Errorf("run-1 marks = %+v, want revoked, no channel", marks["run-1"])
			}
			if marks["2026.11.30"].Revoked || len(marks["2026.11.30"].Channels) != 1 || marks["2026.11.30"].Channels[0] != "prod" {
				t.Errorf("2026.11.30 marks = %+v, want channel prod, not revoked", marks["2026.11.30"])
			}
		})
	}
}

func TestPublishUnsigned(t *testing.T) {
	ctx := ctxT(t)
	repo := openRepo(t, memRegistry(t, nil))
	b := runManifest(t, nil, twoRuns[0])
	if _, err := repo.Publish(ctx, b, PublishOptions{}); !errors.Is(err, artifacts.ErrUnsigned) {
		t.Fatalf("publish unsigned: err = %v, want ErrUnsigned", err)
	}
	if vs, _ := repo.Versions(ctx, nil); len(vs) != 0 {
		t.Fatalf("versions after a refused publish = %+v", vs)
	}
	if v, err := repo.Publish(ctx, b, PublishOptions{AllowUnsigned: true}); err != nil || !v.Published {
		t.Fatalf("publish unsigned with AllowUnsigned = %+v, %v", v, err)
	}
	// A deployer with a key never accepts it.
	if _, err := repo.Resolve(ctx, Ref{Version: "run-1"}, ResolveOptions{Build: "qemu.base", Key: genKey(t).Public()}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("resolve unsigned version: err = %v, want ErrBadSignature", err)
	}
}

func TestRepositorySharedWithImages(t *testing.T) {
	// Images and other artifacts may share the repository: versions lists
	// only versions, and publish does not take over an image's tag.
	ctx := ctxT(t)
	repo := openRepo(t, memRegistry(t, nil))
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.repo.Tag("latest"), img, repo.remote(ctx)...); err != nil {
		t.Fatal(err)
	}
	key := genKey(t)
	if _, err := repo.Publish(ctx, runManifest(t, key, twoRuns[0]), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Publish(ctx, runManifest(t, key, twoRuns[1]), PublishOptions{Version: "latest"}); err == nil || !strings.Contains(err.Error(), "latest") {
		t.Fatalf("publish over an image's tag: err = %v, want a refusal naming the tag", err)
	}
	vs, err := repo.Versions(ctx, key.Public())
	if err != nil || len(vs) != 1 || vs[0].Name != "run-1" {
		t.Fatalf("versions = %+v, %v; want only run-1", vs, err)
	}
}
