package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// testsTemplate has three docker builds that share one provisioner and
// differ in their test blocks: good passes its two tests, bad fails its
// first (exit 3; the second is skipped), hang has a test that sleeps past
// its timeout.
func testsTemplate() string {
	return `
source "docker" "good" {
  image  = "` + testenv.BaseImage() + `"
  pull   = false
  commit = true
}

source "docker" "bad" {
  image  = "` + testenv.BaseImage() + `"
  pull   = false
  commit = true
}

source "docker" "hang" {
  image  = "` + testenv.BaseImage() + `"
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.good", "source.docker.bad", "source.docker.hang"]

  provisioner "shell" {
    inline = ["echo built > /etc/bake-test", "echo build-host=$(hostname)"]
  }

  test "shell" {
    name   = "smoke"
    only   = ["docker.good"]
    inline = ["test \"$(cat /etc/bake-test)\" = built", "echo test-host=$(hostname)", "echo smoke ok"]
  }

  test "file" {
    only        = ["docker.good"]
    content     = "hello"
    destination = "/tmp/uploaded"
  }

  test "shell" {
    name   = "fails"
    only   = ["docker.bad"]
    inline = ["echo about to fail", "exit 3"]
  }

  test "shell" {
    name   = "never runs"
    only   = ["docker.bad"]
    inline = ["true"]
  }

  test "shell" {
    name    = "hangs"
    only    = ["docker.hang"]
    timeout = "3s"
    inline  = ["sleep 600"]
  }
}
`
}

// TestTestBlocksDockerE2E: test blocks run in a fresh container started
// from the committed image (another hostname than the build's); a passing
// build records each test (passed, exit 0, its output's digest) and keeps
// its image; a failing test and a test past its timeout fail their build,
// remove its image and leave no container; -keep-failed-artifacts keeps
// the image, marked untested; a policy that every build's tests passed
// holds on the good build's run and fails on the others.
func TestTestBlocksDockerE2E(t *testing.T) {
	requireDocker(t)
	cli := testenv.Docker(t, testenv.BaseImage())
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(testsTemplate()), 0o644); err != nil {
		t.Fatal(err)
	}
	keyBase := filepath.Join(t.TempDir(), "signer")
	if code, _, stderr := bakeRun(t, nil, "keygen", "-out", keyBase); code != exitOK {
		t.Fatalf("keygen: %s", stderr)
	}
	pub := keyBase + ".pub"
	policy := filepath.Join(t.TempDir(), "tested.hcl")
	os.WriteFile(policy, []byte(`
rule "tests-passed" {
  description = "every build's tests passed"
  expr        = "builds.all(b, !(has(b.untested) && b.untested) && has(b.tests) && b.tests.all(t, t.status == 'passed'))"
}
`), 0o644)

	run := bakeDocker(t, cli, dir, "-sign-key", keyBase+".key")
	if run.code != exitFailed {
		t.Fatalf("exit %d, want %d (two builds fail their tests)\n%s", run.code, exitFailed, run.stderr)
	}
	if e := buildStatus(t, run.events, "docker.good"); e.Status != engine.StatusSucceeded {
		t.Errorf("docker.good: %s %s", e.Status, e.Error)
	}
	for _, b := range []string{"docker.bad", "docker.hang"} {
		if e := buildStatus(t, run.events, b); e.Status != engine.StatusFailed {
			t.Errorf("%s: %s, want failed", b, e.Status)
		}
	}

	// The tests ran in a container of their own.
	var buildHost, testHost string
	for _, l := range run.outputLines("docker.good", "stdout") {
		if h, ok := strings.CutPrefix(l, "build-host="); ok {
			buildHost = h
		}
		if h, ok := strings.CutPrefix(l, "test-host="); ok {
			testHost = h
		}
	}
	if buildHost == "" || testHost == "" || buildHost == testHost {
		t.Errorf("build ran on %q, test on %q: want two different containers", buildHost, testHost)
	}

	// The manifest records each test.
	stmt := run.statementSigned(t, pub)
	entries := map[string]artifacts.BuildEntry{}
	for _, b := range stmt.Predicate.Builds {
		entries[b.Name] = b
	}
	good := entries["docker.good"]
	if len(good.Tests) != 2 || good.Tests[0].Name != "smoke" || good.Tests[0].Status != artifacts.TestPassed ||
		good.Tests[0].ExitStatus != 0 || good.Tests[0].DurationSeconds <= 0 || good.Tests[1].Name != "file" ||
		good.Tests[1].Status != artifacts.TestPassed || good.Untested {
		t.Errorf("docker.good tests: %+v", good.Tests)
	}
	// The digest is that of the test's output lines as printed.
	var printed []string
	inSmoke := false
	for _, e := range run.events {
		if e.Build != "docker.good" {
			continue
		}
		switch {
		case e.Type == engine.EventStepStarted:
			inSmoke = e.Step == `test shell "smoke"`
		case e.Type == engine.EventOutput && inSmoke:
			printed = append(printed, e.Message+"\n")
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(printed, "")))
	if len(good.Tests) > 0 && (len(printed) < 2 || good.Tests[0].OutputSHA256 != hex.EncodeToString(sum[:])) {
		t.Errorf("smoke output digest %s; the printed lines %q hash to %x", good.Tests[0].OutputSHA256, printed, sum)
	}
	bad := entries["docker.bad"]
	if len(bad.Tests) != 2 || bad.Tests[0].Status != artifacts.TestFailed || bad.Tests[0].ExitStatus != 3 ||
		bad.Tests[1].Status != artifacts.TestSkipped || bad.Tests[1].ExitStatus != -1 || len(bad.Artifacts) != 0 {
		t.Errorf("docker.bad: tests %+v, artifacts %+v", bad.Tests, bad.Artifacts)
	}
	hang := entries["docker.hang"]
	if len(hang.Tests) != 1 || hang.Tests[0].Status != artifacts.TestFailed || hang.Tests[0].ExitStatus != -1 ||
		!strings.Contains(hang.Tests[0].Error, "timed out after 3s") {
		t.Errorf("docker.hang tests: %+v", hang.Tests)
	}

	// The good image stays; the failed builds' images are gone.
	imgs := buildImages(t, run.runID)
	if imgs["docker.good"] != 1 || imgs["docker.bad"] != 0 || imgs["docker.hang"] != 0 {
		t.Errorf("images of the run by build: %v; want only docker.good's", imgs)
	}
	code, vout, verr := bakeRun(t, nil, "verify", "-key", pub, "-allow-failed", "-policy", policy, run.manifest)
	if code != exitFailed || !strings.Contains(vout, "FAIL  tests-passed") {
		t.Errorf("verify -policy on the failed run: exit %d\n%s%s", code, vout, verr)
	}

	// Only the good build: the policy holds.
	run = bakeDocker(t, cli, dir, "-sign-key", keyBase+".key", "-only", "docker.good")
	run.mustSucceed(t)
	code, vout, verr = bakeRun(t, nil, "verify", "-key", pub, "-policy", policy, run.manifest)
	if code != exitOK || !strings.Contains(vout, "PASS  tests-passed") {
		t.Errorf("verify -policy on the passing run: exit %d\n%s%s", code, vout, verr)
	}

	// -keep-failed-artifacts: the failed build's image stays, untested,
	// and is no subject of the manifest.
	run = bakeDocker(t, cli, dir, "-sign-key", keyBase+".key", "-only", "docker.bad", "-keep-failed-artifacts")
	if run.code != exitFailed {
		t.Fatalf("keep: exit %d\n%s", run.code, run.stderr)
	}
	stmt = run.statementSigned(t, pub)
	if b := stmt.Predicate.Builds[0]; !b.Untested || len(b.Artifacts) != 1 || len(stmt.Subject) != 0 {
		t.Errorf("kept build: untested %v, artifacts %+v, subjects %+v", b.Untested, b.Artifacts, stmt.Subject)
	}
	if imgs := buildImages(t, run.runID); imgs["docker.bad"] != 1 {
		t.Errorf("-keep-failed-artifacts: images of the run by build: %v", imgs)
	}
}

// buildImages counts the run's images by the build that made them.
func buildImages(t *testing.T, runID string) map[string]int {
	t.Helper()
	cli := testenv.Docker(t, testenv.BaseImage())
	list, err := cli.ImageList(context.Background(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", docker.LabelRunID+"="+runID))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, im := range list {
		out[im.Labels[docker.LabelBuild]]++
	}
	return out
}
