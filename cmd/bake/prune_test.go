package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/registry"
	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pushRandom pushes a small random image to repo and returns it by digest.
func pushRandom(t *testing.T, repo string) string {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	ref, err := name.NewDigest(repo + "@" + h.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(authn.NewMultiKeychain())); err != nil {
		t.Fatal(err)
	}
	return ref.Name()
}

// TestPruneCLI: bake prune on the real registry lists what it would
// remove and removes nothing; with -yes it deregisters the AMIs (and
// deletes their snapshots, against ec2test), deletes the images and the
// disk files, keeps the channel's version, and prints audit lines; when
// EC2 refuses, the version stays until a later prune removes the rest.
func TestPruneCLI(t *testing.T) {
	dir := t.TempDir()
	keyBase := filepath.Join(dir, "release")
	if code, _, stderr := bakeRun(t, nil, "keygen", "-out", keyBase); code != exitOK {
		t.Fatalf("keygen: %s", stderr)
	}
	keyPath, pub := keyBase+".key", keyBase+".pub"
	key, err := loadSigner(keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo := testRepo(t)
	ec2 := ec2test.Start(t, ec2test.Options{})
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBAKETEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")

	type version struct {
		name, ami, image, disk string
	}
	var vs []version
	for i := 1; i <= 3; i++ {
		v := version{
			name:  fmt.Sprintf("night-%d", i),
			ami:   ec2.AddImage("eu-west-1", ec2test.Image{Name: fmt.Sprintf("golden-%d", i)}),
			image: pushRandom(t, repo),
			disk:  filepath.Join(dir, fmt.Sprintf("disk-%d.qcow2", i)),
		}
		if err := os.WriteFile(v.disk, []byte("disk "+v.name), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, i, 2, 0, 0, 0, time.UTC)
		_, dig, _ := strings.Cut(v.image, "@")
		st, err := artifacts.NewRunManifest(artifacts.RunInfo{RunID: v.name, CreatedAt: at, BakeVersion: "test", TemplatePath: "t.pkr.hcl", TemplateSHA256: strings.Repeat("0", 64)},
			[]artifacts.BuildRecord{
				{Name: "amazon-ebs.base", Builder: "amazon-ebs", Status: artifacts.StatusSucceeded, Started: at, Finished: at,
					Artifacts: []*artifacts.Artifact{{Builder: "amazon-ebs", ID: v.ami, Items: []artifacts.Item{{ExternalIdentifier: v.ami, Region: "eu-west-1", Format: "ami"}}}}},
				{Name: "docker.app", Builder: "docker", Status: artifacts.StatusSucceeded, Started: at, Finished: at,
					Artifacts: []*artifacts.Artifact{{Builder: "docker-push", ID: v.image, Items: []artifacts.Item{{ExternalIdentifier: v.image, URI: v.image, Digest: dig}}}}},
				{Name: "qemu.base", Builder: "qemu", Status: artifacts.StatusSucceeded, Started: at, Finished: at,
					// Recorded relative to where the build ran: dir.
					Artifacts: []*artifacts.Artifact{{Builder: "qemu", ID: v.disk, Items: []artifacts.Item{{ExternalIdentifier: filepath.Base(v.disk), Path: v.disk}}}}},
			})
		if err != nil {
			t.Fatal(err)
		}
		m := filepath.Join(dir, v.name+".sigstore.json")
		if err := artifacts.WriteRunManifest(m, st, key); err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := bakeRun(t, nil, "publish", "-to", repo, "-version", v.name, m); code != exitOK {
			t.Fatalf("publish %s: %s", v.name, errOut)
		}
		if code, out, errOut := bakeRun(t, nil, "attest", "-key", pub, m); code != exitOK || !strings.Contains(out, "attestation attached: "+v.image) {
			t.Fatalf("attest %s: exit %d\n%s%s", v.name, code, out, errOut)
		}
		vs = append(vs, v)
	}
	if code, _, errOut := bakeRun(t, nil, "channel", "set", repo, "prod", "night-1", "-sign-key", keyPath); code != exitOK {
		t.Fatalf("channel set: %s", errOut)
	}
	snapshotsOf := func(ami string) []string {
		for _, img := range ec2.Inventory().Images {
			if img.ID == ami {
				var s []string
				for _, bd := range img.BlockDevices {
					s = append(s, bd.SnapshotID)
				}
				return s
			}
		}
		return nil
	}
	snap2 := snapshotsOf(vs[1].ami)
	if len(snap2) != 1 {
		t.Fatalf("AMI %s snapshots %v", vs[1].ami, snap2)
	}

	// The plan: night-3 newest, night-1 prod's, night-2 goes.
	code, out, errOut := bakeRun(t, nil, "prune", repo, "-keep", "1", "-key", pub)
	if code != exitOK || !hasLine(out, `^night-2 +remove +beyond the newest$`) || !hasLine(out, `^ +ami `+vs[1].ami+` \(eu-west-1\)$`) ||
		!hasLine(out, `^night-1 +keep +channel prod$`) || !hasLine(out, `^night-3 +keep +newest 1$`) || !strings.Contains(errOut, "nothing was removed (add -yes)") {
		t.Fatalf("prune plan: exit %d\n%s%s", code, out, errOut)
	}
	if snapshotsOf(vs[1].ami) == nil {
		t.Fatal("the plan deregistered an AMI")
	}
	if code, _, errOut := bakeRun(t, nil, "prune", repo, "-keep", "1", "-yes"); code != exitUsage || !strings.Contains(errOut, "-yes needs -key") {
		t.Fatalf("prune -yes without -key: exit %d, %s", code, errOut)
	}

	// EC2 refuses the deregistration once: the image and the file go, the
	// version stays, to be pruned again.
	ec2.Inject(ec2test.Fault{Action: "DeregisterImage", Code: "UnauthorizedOperation", Message: "not allowed"})
	code, out, errOut = bakeRun(t, nil, "prune", repo, "-keep", "1", "-key", pub, "-yes", "-dir", dir, "-endpoint", ec2.URL)
	if code != exitFailed || !strings.Contains(out, "night-2: KEPT: ami "+vs[1].ami) || !strings.Contains(errOut, "UnauthorizedOperation") {
		t.Fatalf("prune -yes with EC2 refusing: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"night-2: removed image " + vs[1].image + " with attestations",
		"night-2: removed file disk-2.qcow2",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("audit lines lack %q:\n%s", want, out)
		}
	}
	if code, _, errOut := bakeRun(t, nil, "resolve", repo+"@night-2", "-build", "qemu.base", "-key", pub); code != exitOK {
		t.Fatalf("night-2 gone after a failed prune: exit %d, %s", code, errOut)
	}

	code, out, errOut = bakeRun(t, nil, "prune", repo, "-keep", "1", "-key", pub, "-yes", "-dir", dir, "-endpoint", ec2.URL)
	if code != exitOK {
		t.Fatalf("prune -yes: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"night-2: removed ami " + vs[1].ami + " (eu-west-1) with snapshot " + snap2[0],
		"night-2: already gone image " + vs[1].image,
		"night-2: already gone file disk-2.qcow2",
		"night-2: removed version",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("audit lines lack %q:\n%s", want, out)
		}
	}
	inv := ec2.Inventory()
	for _, img := range inv.Images {
		if img.ID == vs[1].ami {
			t.Fatalf("AMI %s still registered", img.ID)
		}
	}
	for _, s := range inv.Snapshots {
		if s.ID == snap2[0] {
			t.Fatalf("snapshot %s of the pruned AMI still there", s.ID)
		}
	}
	for i, v := range vs {
		_, err := os.Stat(v.disk)
		if gone := i == 1; gone != os.IsNotExist(err) || gone == (snapshotsOf(v.ami) != nil) {
			t.Fatalf("%s: disk stat %v, AMI snapshots %v; want gone %t", v.name, err, snapshotsOf(v.ami), gone)
		}
	}

	// The JSON listing of the same: nothing left to prune.
	code, out, _ = bakeRun(t, nil, "prune", repo, "-keep", "1", "-key", pub, "-json")
	var plan registry.PrunePlan
	if err := json.Unmarshal([]byte(out), &plan); code != exitOK || err != nil || len(plan.Prune) != 0 || len(plan.Kept) != 2 || !plan.Verified {
		t.Fatalf("prune -json after: exit %d, %v\n%s", code, err, out)
	}
}

// hasLine reports whether a line of out matches the regular expression re.
func hasLine(out, re string) bool {
	return regexp.MustCompile("(?m)" + re).MatchString(out)
}
