package amazon

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
)

// TestBakeBuildCache runs testdata/amazon through `bake build` with the
// build cache three times against one EC2 test server: cold, unchanged
// (no instance launched, the same AMIs in every region, the manifest says
// each step was reused and by which run) and with its last (only)
// provisioner changed (an instance again).
func TestBakeBuildCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bake binary")
	}
	srv := startSSHD(t)
	bin := bakebin.Path(t)
	e := newEnv(t, srv, ec2test.Options{})
	cacheDir := t.TempDir()
	markerDir := t.TempDir()
	run := func(t *testing.T, marker string, extra ...string) (string, []string) {
		t.Helper()
		dir := t.TempDir()
		cmd := templateBuild(t, bin, e, srv.Port, dir, filepath.Join(markerDir, marker), extra...)
		cmd.Env = append(cmd.Env, "BAKE_CACHE_DIR="+cacheDir, "BAKE_NO_CACHE=0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("bake build: %v\n%s", err, out.String())
		}
		builds := manifesttest.Builds(t, filepath.Join(dir, "m.json"))
		if len(builds) != 1 || len(builds[0].Artifacts) != 3 {
			t.Fatalf("manifest builds: %+v\n%s", builds, out.String())
		}
		var ids, statuses []string
		for _, a := range builds[0].Artifacts {
			ids = append(ids, a.Region+":"+a.ExternalIdentifier)
		}
		for _, s := range builds[0].Steps {
			statuses = append(statuses, s.Status+":"+s.RunID)
		}
		return strings.Join(ids, ","), statuses
	}
	// The builds' launches: instances of the source AMI. The template's
	// test block launches one more of the built AMI in every run, reused
	// or not (a reused image is tested like a new one).
	launches := func() int {
		n := 0
		for _, in := range e.ec2.Inventory().Instances {
			if in.ImageID == e.newest {
				n++
			}
		}
		return n
	}

	coldAMIs, coldSteps := run(t, "m1")
	if launches() != 1 || len(coldSteps) != 1 || !strings.HasPrefix(coldSteps[0], "run:") {
		t.Fatalf("cold build: %d launches, steps %v", launches(), coldSteps)
	}
	var coldRun string
	for _, img := range e.ec2.Inventory().Images {
		if img.Name == "golden-debian-12" && img.Region == "us-east-1" {
			coldRun = img.Tags[TagRunID]
			if img.Tags[TagCacheKey] == "" {
				t.Errorf("the AMI has no %s tag: %v", TagCacheKey, img.Tags)
			}
		}
	}

	sameAMIs, sameSteps := run(t, "m1")
	if n := launches(); n != 1 {
		t.Errorf("unchanged build launched an instance (%d RunInstances in all)", n-1)
	}
	if sameAMIs != coldAMIs {
		t.Errorf("unchanged build's AMIs %s, want the cold build's %s", sameAMIs, coldAMIs)
	}
	if len(sameSteps) != 1 || sameSteps[0] != "reused:"+coldRun {
		t.Errorf("unchanged build's steps %v, want reused from run %s", sameSteps, coldRun)
	}

	// The AMI name is the template's, fixed: -force replaces the cached
	// AMIs, as it would replace any of that name.
	changedAMIs, changedSteps := run(t, "m2", "-force")
	if n := launches(); n != 2 {
		t.Errorf("changed build: %d RunInstances in all, want 2", n)
	}
	if changedAMIs == coldAMIs || len(changedSteps) != 1 || !strings.HasPrefix(changedSteps[0], "run:") {
		t.Errorf("changed build: AMIs %s (cold %s), steps %v", changedAMIs, coldAMIs, changedSteps)
	}
}
