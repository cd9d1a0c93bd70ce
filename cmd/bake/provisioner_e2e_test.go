package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// TestDockerE2EProvisionerTimeout is the repro: a shell step with
// timeout, max_retries and use_env_var_file whose first attempt times
// out. The timed-out attempt is stopped in the container (it writes
// nothing while the retry runs, and nothing of it lands in the image),
// and no bake file (script, environment file with the secret) is left in
// the committed image.
func TestDockerE2EProvisionerTimeout(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	// The first attempt ticks into /ticks until it is stopped. The retry
	// counts the ticks, waits, and counts again: a first attempt still
	// running adds some.
	dir := writeTemplate(t, fmt.Sprintf(`
source "docker" "timeout" {
  image   = %q
  pull    = false
  commit  = true
  changes = ["CMD [\"/bin/sh\", \"-c\", \"echo tmp: $(ls -A /tmp); echo ticks: $(wc -l < /ticks) $(cat /ticks-at-end)\"]"]
}

build {
  sources = ["source.docker.timeout"]
  provisioner "shell" {
    environment_vars = ["SECRET=it's-a-secret-3c9e"]
    use_env_var_file = true
    timeout          = "5s"
    max_retries      = 1
    inline = [
      "if [ ! -e /first ]; then touch /first; while :; do echo tick >> /ticks; sleep 0.1; done; fi",
      "before=$(wc -l < /ticks)",
      "sleep 1",
      "after=$(wc -l < /ticks)",
      "echo \"ticks during the retry: $((after - before))\"",
      "echo \"$after\" > /ticks-at-end",
    ]
  }
}
`, testenv.BaseImage()))
	r := bakeDocker(t, cli, dir)
	r.mustSucceed(t)
	out := strings.Join(r.outputLines("docker.timeout", ""), "\n")
	if !strings.Contains(out, "ticks during the retry: 0") {
		t.Errorf("the timed-out attempt ran on beside the retry:\n%s", out)
	}
	art := r.artifact(t, "docker.timeout", "docker")
	got := runImageCmd(t, cli, art.ID)
	t.Logf("image: %s", got)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 2 || lines[0] != "tmp:" {
		t.Errorf("bake left files in the image's /tmp: %q", got)
	}
	if f := strings.Fields(lines[len(lines)-1]); len(f) != 3 || f[1] != f[2] || f[1] == "0" {
		t.Errorf("ticks in the image and at the end of the retry differ (or none): %q", lines[len(lines)-1])
	}
}
