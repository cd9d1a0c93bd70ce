package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// TestDockerE2EStdoutClosed is `bake build t | head -1`: the reader of
// bake's stdout goes away after the first line while the build still has
// output to print. bake must not die of SIGPIPE: the build runs to its
// end, its container is removed and the run manifest is written.
func TestDockerE2EStdoutClosed(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	source := "head-" + randSuffix()
	build := "docker." + source
	// Whatever happens, no container of this build outlives the test.
	byBuild := filters.NewArgs(filters.Arg("label", docker.LabelBuild+"="+build))
	t.Cleanup(func() {
		list, _ := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: byBuild})
		for _, c := range list {
			cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
	})
	dir := writeTemplate(t, fmt.Sprintf(`
source "docker" %q {
  image  = %q
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.%s"]
  provisioner "shell" {
    inline = ["sleep 1", "for i in $(seq 1 50); do echo line $i; done", "echo done > /built"]
  }
}
`, source, testenv.BaseImage(), source))
	manifest := filepath.Join(dir, "m.sigstore.json")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bakebin.Path(t), "build", "-color=false", "-manifest", manifest, dir)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = pw, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	// head -1: read a line, then go away.
	first, err := bufio.NewReader(pr).ReadString('\n')
	pr.Close()
	if err != nil {
		t.Fatalf("no first line: %v\n%s", err, stderr.String())
	}
	t.Logf("first line: %q", first)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("bake did not finish:\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitOK {
		t.Fatalf("exit %d (%s), want %d\n%s", code, cmd.ProcessState, exitOK, stderr.String())
	}

	if !strings.Contains(stderr.String(), "stdout is gone") {
		t.Errorf("bake did not say on stderr that it drops its output:\n%s", stderr.String())
	}
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: byBuild})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("%d container(s) of %s remain", len(list), build)
	}
	stmt := manifesttest.Statement(t, manifest)
	afterRun(t, cli, stmt.Predicate.Fingerprint)
	builds := stmt.Predicate.Builds
	if len(builds) != 1 || builds[0].Name != build || builds[0].Status != artifacts.StatusSucceeded || len(builds[0].Artifacts) != 1 {
		t.Fatalf("the run manifest records %+v, want %s succeeded with its image", builds, build)
	}
	if ims := runImages(t, cli, stmt.Predicate.Fingerprint); len(ims) != 1 {
		t.Errorf("the build committed %d image(s), want 1", len(ims))
	}
}
