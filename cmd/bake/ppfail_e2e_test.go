package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// bakeHuman runs `bake build` in-process with human output (the summary)
// and the manifest at dir/m.sigstore.json; it checks no container of the
// run remains and removes the run's images when the test ends.
func bakeHuman(t *testing.T, dir string, args ...string) (code int, stdout, stderr string, stmt artifacts.Statement) {
	t.Helper()
	cli := testenv.Docker(t, testenv.BaseImage())
	manifest := filepath.Join(dir, "m.sigstore.json")
	args = append(append([]string{"build", "-color=false", "-manifest", manifest}, args...), dir)
	code, stdout, stderr = bakeRun(t, os.Environ(), args...)
	stmt = manifesttest.Statement(t, manifest)
	afterRun(t, cli, stmt.Predicate.Fingerprint)
	return code, stdout, stderr, stmt
}

// TestDockerE2EFailedPostProcessorKeepsImage: a post-processor that fails
// leaves the committed image in place, as Packer does; bake lists it in
// the run manifest under the failed build and the summary says it may
// remain.
func TestDockerE2EFailedPostProcessorKeepsImage(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	dir := writeTemplate(t, fmt.Sprintf(`
source "docker" "pp" {
  image  = %q
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.pp"]
  provisioner "shell" {
    inline = ["echo built > /built"]
  }
  post-processor "shell-local" {
    inline = ["exit 1"]
  }
}
`, testenv.BaseImage()))
	code, stdout, stderr, stmt := bakeHuman(t, dir)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, stdout, stderr)
	}
	b := stmt.Predicate.Builds[0]
	if b.Status != artifacts.StatusFailed || len(b.Artifacts) != 1 || !strings.HasPrefix(b.Artifacts[0].ExternalIdentifier, "sha256:") {
		t.Fatalf("the run manifest records %+v, want the failed build with its image", b)
	}
	id := b.Artifacts[0].ExternalIdentifier
	if _, err := cli.ImageInspect(context.Background(), id); err != nil {
		t.Errorf("the image the manifest lists: %v", err)
	}
	if ims := runImages(t, cli, stmt.Predicate.Fingerprint); len(ims) != 1 || ims[0].ID != id {
		t.Errorf("the run's images %v, want %s alone", ims, id)
	}
	if !strings.Contains(stdout, "may remain (artifact of this build): docker: "+id) {
		t.Errorf("the summary does not say %s may remain:\n%s", id, stdout)
	}
	if len(stmt.Subject) != 0 {
		t.Errorf("a failed build's image is a subject: %+v", stmt.Subject)
	}
}

// TestDockerE2EVerifyRefusesFailedBuild is issue 10's repro: export_path
// and two chains, compress succeeds and shell-local exits 1. The build
// failed, so bake verify refuses out/f.tar.gz, naming the build, unless
// -allow-failed.
func TestDockerE2EVerifyRefusesFailedBuild(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	if code, _, errOut := bakeRun(t, nil, "keygen", "-out", key); code != exitOK {
		t.Fatal(errOut)
	}
	out := filepath.Join(dir, "out")
	tmpl := writeTemplate(t, fmt.Sprintf(`
source "docker" "f" {
  image       = %q
  pull        = false
  export_path = %q
}

build {
  sources = ["source.docker.f"]
  post-processor "compress" {
    output = %q
  }
  post-processor "shell-local" {
    inline = ["exit 1"]
  }
}
`, testenv.BaseImage(), filepath.Join(out, "f.tar"), filepath.Join(out, "f.tar.gz")))
	code, stdout, stderr, stmt := bakeHuman(t, tmpl, "-sign-key", key+".key")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, stdout, stderr)
	}
	var listed []string
	for _, it := range stmt.Predicate.Builds[0].Artifacts {
		listed = append(listed, filepath.Base(it.ExternalIdentifier))
	}
	if got := strings.Join(listed, ","); got != "f.tar,f.tar.gz" {
		t.Errorf("the failed build lists %s, want f.tar,f.tar.gz", got)
	}
	manifest := filepath.Join(tmpl, "m.sigstore.json")
	targz := filepath.Join(out, "f.tar.gz")

	code, vout, verr := bakeRun(t, nil, "verify", "-key", key+".pub", manifest, "-artifact", targz)
	if code != exitFailed || !strings.Contains(verr, "belongs to build docker.f, which failed") {
		t.Errorf("bake verify of the failed build's file: exit %d\n%s%s", code, vout, verr)
	}
	code, vout, verr = bakeRun(t, nil, "verify", "-key", key+".pub", "-allow-failed", manifest, "-artifact", targz)
	if code != exitOK || !strings.Contains(vout, "build docker.f FAILED, accepted with -allow-failed") {
		t.Errorf("bake verify -allow-failed: exit %d\n%s%s", code, vout, verr)
	}
}
