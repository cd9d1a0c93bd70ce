package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// packerWrapper is what scripts around Packer do with -machine-readable
// output: split on commas, pick the artifact ids per build, and turn
// %!(PACKER_COMMA) back into commas.
const packerWrapper = `awk -F, '$3 == "artifact" && $5 == "id" { id = $6; gsub(/%!\(PACKER_COMMA\)/, ",", id); print $2 " " id }
$3 == "error" { print "ERROR " $2 }'`

// TestDockerE2EMachineReadable runs the bake binary with -machine-readable
// on two docker builds, one that fails, and parses its stdout with an awk
// script as a Packer wrapper would: it finds the committed image's id for
// the build that succeeded, the error for the one that failed, and every
// line has Packer's shape with commas and newlines escaped.
func TestDockerE2EMachineReadable(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	dir := writeTemplate(t, fmt.Sprintf(`
variable "secret" {
  type      = string
  default   = "s3cr3t-machine-value"
  sensitive = true
}

source "docker" "ok" {
  image  = %[1]q
  pull   = false
  commit = true
}

source "docker" "bad" {
  image   = %[1]q
  pull    = false
  discard = true
}

build {
  sources = ["source.docker.ok", "source.docker.bad"]
  provisioner "shell" {
    inline = ["echo 'one, two'", "printf 'a\\nb\\n'", "echo ${var.secret}"]
  }
  provisioner "shell" {
    only   = ["docker.bad"]
    inline = ["exit 3"]
  }
}
`, testenv.BaseImage()))
	manifest := filepath.Join(dir, "m.sigstore.json")
	cmd := exec.Command(bakebin.Path(t), "build", "-machine-readable", "-manifest", manifest, dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	stmt := manifesttest.Statement(t, manifest)
	afterRun(t, cli, stmt.Predicate.Fingerprint)
	if code := cmd.ProcessState.ExitCode(); code != exitFailed {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout.String(), stderr.String())
	}
	out := stdout.String()

	line := regexp.MustCompile(`^[0-9]{10,},[^,]*,[a-z-]+(,[^,]*)*$`)
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !line.MatchString(l) {
			t.Errorf("not a machine-readable line: %q", l)
		}
	}
	for _, want := range []string{
		",,ui,message,    docker.ok: one%!(PACKER_COMMA) two\n",
		",docker.ok,artifact-count,1\n",
		",docker.ok,artifact,0,builder-id,packer.post-processor.docker-import\n",
		",docker.ok,artifact,0,files-count,0\n",
		",docker.ok,artifact,0,end\n",
		",,error-count,1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t-machine-value") {
		t.Errorf("the sensitive value reached the machine-readable output:\n%s", out)
	}

	wrap := exec.Command("sh", "-c", packerWrapper)
	wrap.Stdin = strings.NewReader(out)
	parsed, err := wrap.Output()
	if err != nil {
		t.Fatalf("awk: %v", err)
	}
	var image string
	for _, b := range stmt.Predicate.Builds {
		if b.Name == "docker.ok" && len(b.Artifacts) == 1 {
			image = b.Artifacts[0].ExternalIdentifier
		}
	}
	if image == "" {
		t.Fatalf("the run manifest has no image for docker.ok: %+v", stmt.Predicate.Builds)
	}
	want := "ERROR docker.bad\ndocker.ok " + image + "\n"
	if string(parsed) != want {
		t.Errorf("the wrapper extracted\n%s\nwant\n%s", parsed, want)
	}
	if _, err := cli.ImageInspect(context.Background(), image); err != nil {
		t.Errorf("the artifact id the wrapper found is not an image: %v", err)
	}
}
