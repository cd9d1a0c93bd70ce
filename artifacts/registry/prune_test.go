package registry

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pruneRun is a version for the prune tests: a pushed image, an AMI in
// two regions, a disk file.
type pruneRun struct {
	id    string
	day   int
	image string // REG/REPO@sha256:…
	disk  string // path
}

func pruneManifest(t *testing.T, key crypto.Signer, r pruneRun) []byte {
	t.Helper()
	at := time.Date(2026, 11, r.day, 2, 0, 0, 0, time.UTC)
	_, dig, _ := strings.Cut(r.image, "@")
	builds := []artifacts.BuildRecord{
		{Name: "amazon-ebs.base", Builder: "amazon-ebs", Status: artifacts.StatusSucceeded, Started: at, Finished: at,
			Artifacts: []*artifacts.Artifact{{Builder: "amazon-ebs", Build: "amazon-ebs.base", ID: "amis", Items: []artifacts.Item{
				{ExternalIdentifier: "ami-" + r.id + "-eu", Region: "eu-west-1", Format: "ami"},
				{ExternalIdentifier: "ami-" + r.id + "-us", Region: "us-east-1", Format: "ami"}}}}},
		{Name: "docker.app", Builder: "docker", Status: artifacts.StatusSucceeded, Started: at, Finished: at,
			Artifacts: []*artifacts.Artifact{{Builder: "docker-push", Build: "docker.app", ID: r.image, Items: []artifacts.Item{{
				ExternalIdentifier: r.image, URI: r.image, Digest: dig, MediaType: "application/vnd.oci.image.manifest.v1+json"}}}}},
		{Name: "qemu.base", Builder: "qemu", Status: artifacts.StatusSucceeded, Started: at, Finished: at,
			Artifacts: []*artifacts.Artifact{{Builder: "qemu", Build: "qemu.base", ID: r.disk, Files: []string{r.disk}}}},
	}
	st, err := artifacts.NewRunManifest(artifacts.RunInfo{RunID: r.id, CreatedAt: at, BakeVersion: "test",
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

// fakeAMIs records the AMIs it is asked to delete; AMIs are not this
// package's (cmd/bake's test runs the amazon deleter against ec2test).
type fakeAMIs struct{ deleted []string }

func (f *fakeAMIs) Delete(_ context.Context, d Deliverable) (Removal, error) {
	f.deleted = append(f.deleted, d.Region+"/"+d.Ref)
	return Removal{Deliverable: d, Also: []string{"snap-of-" + d.Ref}}, nil
}

func writeDisk(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPrune keeps the newest versions and the one prod points at, lists
// the rest with their artifacts, removes nothing without being told, and
// removes the images (with their attestations), disk files, AMIs and the
// versions themselves when told; what a kept version also lists stays.
func TestPrune(t *testing.T) {
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
			dir := t.TempDir()
			shared := pushImage(t, repo)
			runs := []pruneRun{
				{id: "n1", day: 1, image: pushImage(t, repo), disk: writeDisk(t, dir, "n1.qcow2", "disk one")},
				{id: "n2", day: 2, image: pushImage(t, repo), disk: writeDisk(t, dir, "n2.qcow2", "disk two")},
				{id: "n3", day: 3, image: shared, disk: writeDisk(t, dir, "n3.qcow2", "disk three")},
				{id: "n4", day: 4, image: pushImage(t, repo), disk: writeDisk(t, dir, "n4.qcow2", "disk four")},
				{id: "n5", day: 5, image: shared, disk: writeDisk(t, dir, "n5.qcow2", "disk five")},
				{id: "n6", day: 6, image: pushImage(t, repo), disk: writeDisk(t, dir, "n6.qcow2", "disk six")},
			}
			for _, r := range runs {
				b := pruneManifest(t, key, r)
				if _, err := repo.Publish(ctx, b, PublishOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := Attach(ctx, r.image, b, testOpts()); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := repo.SetChannel(ctx, "prod", "n1", key, SetOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := repo.Revoke(ctx, "n6", key, SetOptions{Reason: "bad"}); err != nil {
				t.Fatal(err)
			}
			// n4's disk was rebuilt since: it must stay, and so must n4.
			writeDisk(t, dir, "n4.qcow2", "another disk four")

			// Keep 2: n6 is revoked (counts for nothing, pruned), n5 and n4
			// are the newest two, n1 is prod's; n3 and n2 go, n3's image
			// stays since n5 has it too.
			plan, err := repo.PlanPrune(ctx, PruneOptions{Keep: 2, Key: key.Public()})
			if err != nil {
				t.Fatal(err)
			}
			var kept, pruned []string
			for _, k := range plan.Kept {
				kept = append(kept, k.Name+"="+k.Reason)
			}
			for _, p := range plan.Prune {
				pruned = append(pruned, p.Name)
			}
			sort.Strings(kept)
			if got, want := strings.Join(kept, " "), "n1=channel prod n4=newest 2 n5=newest 2"; got != want {
				t.Fatalf("kept %s, want %s", got, want)
			}
			if got, want := strings.Join(pruned, " "), "n6 n3 n2"; got != want {
				t.Fatalf("pruned %s, want %s", got, want)
			}
			for _, p := range plan.Prune {
				kinds := map[string]int{}
				for _, a := range p.Artifacts {
					kinds[a.Kind]++
					if a.Kind == KindImage && a.Ref == shared {
						t.Fatalf("%s lists the image n5 also has: %s", p.Name, a.Ref)
					}
				}
				wantImages := 1
				if p.Name == "n3" {
					wantImages = 0
				}
				if kinds[KindAMI] != 2 || kinds[KindFile] != 1 || kinds[KindImage] != wantImages {
					t.Fatalf("%s artifacts %+v", p.Name, p.Artifacts)
				}
			}
			// A plan read without the key cannot be carried out.
			unverified, err := repo.PlanPrune(ctx, PruneOptions{Keep: 2})
			if err != nil || len(unverified.Prune) != 3 {
				t.Fatalf("plan without key: %+v, %v", unverified, err)
			}
			if _, err := repo.Prune(ctx, unverified, nil); err == nil {
				t.Fatal("prune of an unverified plan: no error")
			}
			if vs, _ := repo.Versions(ctx, nil); len(vs) != 6 {
				t.Fatalf("planning removed something: %d versions", len(vs))
			}

			amis := &fakeAMIs{}
			res, err := repo.Prune(ctx, plan, map[string]Deleter{KindAMI: amis, KindImage: ImageDeleter{Options: testOpts()}, KindFile: FileDeleter{}})
			if err != nil {
				t.Fatalf("prune: %v", err)
			}
			if len(res.Versions) != 3 {
				t.Fatalf("result %+v", res)
			}
			for _, v := range res.Versions {
				if !v.Deleted {
					t.Fatalf("version %s not deleted: %v", v.Name, v.Errors)
				}
			}
			sort.Strings(amis.deleted)
			if got := strings.Join(amis.deleted, " "); got != "eu-west-1/ami-n2-eu eu-west-1/ami-n3-eu eu-west-1/ami-n6-eu us-east-1/ami-n2-us us-east-1/ami-n3-us us-east-1/ami-n6-us" {
				t.Fatalf("AMIs deleted: %s", got)
			}
			vs, err := repo.Versions(ctx, key.Public())
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, v := range vs {
				left = append(left, v.Name)
			}
			if got := strings.Join(left, " "); got != "n1 n4 n5" {
				t.Fatalf("versions left: %s", got)
			}
			// Pruned images are gone with their attestations; the shared one
			// and the kept ones stay, attested.
			for _, r := range runs {
				ref, _ := name.NewDigest(r.image)
				_, err := remote.Head(ref, remote.WithAuthFromKeychain(anonymous))
				gone := r.id == "n2" || r.id == "n6"
				if gone != (err != nil) {
					t.Fatalf("image of %s: head err = %v, want gone %t", r.id, err, gone)
				}
				_, verr := VerifyAttestations(ctx, r.image, key.Public(), testOpts())
				if gone != errors.Is(verr, ErrNoAttestation) {
					t.Fatalf("attestations of %s's image: %v (gone %t)", r.id, verr, gone)
				}
				_, ferr := os.Stat(r.disk)
				if wantGone := gone || r.id == "n3"; wantGone != errors.Is(ferr, os.ErrNotExist) {
					t.Fatalf("disk of %s: stat err = %v, want gone %t", r.id, ferr, wantGone)
				}
			}
			// The revocation of n6 stays, so its bundle stays refused.
			if tags, _ := repo.tags(ctx); !contains(tags, "revoked-n6") {
				t.Fatalf("revocation of n6 gone: %v", tags)
			}

			// Keep 1: n4 goes now, but its disk was rebuilt: n4 stays, said why.
			plan, err = repo.PlanPrune(ctx, PruneOptions{Keep: 1, Key: key.Public()})
			if err != nil || len(plan.Prune) != 1 || plan.Prune[0].Name != "n4" {
				t.Fatalf("plan keep 1: %+v, %v", plan, err)
			}
			res, err = repo.Prune(ctx, plan, map[string]Deleter{KindAMI: amis, KindImage: ImageDeleter{Options: testOpts()}, KindFile: FileDeleter{}})
			if err == nil || !strings.Contains(err.Error(), "another build wrote it") || res.Versions[0].Deleted {
				t.Fatalf("prune with a rebuilt disk: %+v, %v; want n4 kept", res, err)
			}
			if _, _, err := repo.VersionBundle(ctx, "n4"); err != nil {
				t.Fatalf("n4 after a failed prune: %v", err)
			}
			// Rollback of prod skips versions pruned since.
			if _, err := repo.SetChannel(ctx, "prod", "n5", key, SetOptions{}); err != nil {
				t.Fatal(err)
			}
			if rec, err := repo.Rollback(ctx, "prod", key, SetOptions{}); err != nil || rec.Version != "n1" {
				t.Fatalf("rollback: %+v, %v; want n1", rec, err)
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestFileDeleter removes a file only while its sha256 matches and takes
// a gone file as removed.
func TestFileDeleter(t *testing.T) {
	dir := t.TempDir()
	writeDisk(t, dir, "d.img", "disk")
	s := sha256.Sum256([]byte("disk"))
	d := Deliverable{Kind: KindFile, Ref: "d.img", SHA256: hex.EncodeToString(s[:])}
	if _, err := (FileDeleter{Dir: dir}).Delete(context.Background(), Deliverable{Kind: KindFile, Ref: "d.img", SHA256: sum("0")}); err == nil {
		t.Fatal("a file with another sha256 was removed")
	}
	if rm, err := (FileDeleter{Dir: dir}).Delete(context.Background(), d); err != nil || rm.Gone {
		t.Fatalf("delete: %+v, %v", rm, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d.img")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
	if rm, err := (FileDeleter{Dir: dir}).Delete(context.Background(), d); err != nil || !rm.Gone {
		t.Fatalf("delete again: %+v, %v; want gone", rm, err)
	}
}

// TestPruneDeletesRefused: a registry that does not allow deletes (a
// distribution without storage.delete.enabled) keeps the version, and the
// error says how to allow them.
func TestPruneDeletesRefused(t *testing.T) {
	ctx := ctxT(t)
	host := memRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusMethodNotAllowed)
				w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	repo := openRepo(t, host)
	key := genKey(t)
	dir := t.TempDir()
	for i, id := range []string{"old", "new"} {
		r := pruneRun{id: id, day: i + 1, image: pushImage(t, repo), disk: writeDisk(t, dir, id+".img", id)}
		if _, err := repo.Publish(ctx, pruneManifest(t, key, r), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := repo.PlanPrune(ctx, PruneOptions{Keep: 1, Key: key.Public()})
	if err != nil || len(plan.Prune) != 1 {
		t.Fatalf("plan: %+v, %v", plan, err)
	}
	res, err := repo.Prune(ctx, plan, map[string]Deleter{KindAMI: &fakeAMIs{}, KindImage: ImageDeleter{Options: testOpts()}, KindFile: FileDeleter{}})
	if err == nil || !strings.Contains(err.Error(), "storage.delete.enabled") || res.Versions[0].Deleted {
		t.Fatalf("prune on a registry without deletes: %+v, %v", res, err)
	}
	if _, _, err := repo.VersionBundle(ctx, "old"); err != nil {
		t.Fatalf("version old after the refused prune: %v", err)
	}
}
