package main

// End-to-end tests of the docker builder through `bake build`, against the
// real engine and the loopback registry that scripts/setup.sh starts. Each
// test checks what a user would check with the Docker API, and that no
// container labelled with the run's id remains when bake has exited.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// labelTest marks the containers a test itself runs from a built image,
// so that a leftover one can be told from a build's.
const labelTest = "dev.bake.e2e-test"

func randSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// dockerRun is one `bake build -json` run.
type dockerRun struct {
	code     int
	events   []engine.Event
	stderr   string
	runID    string
	manifest string
}

// bakeDocker runs `bake build -json` in-process on the template in dir.
// It removes the images the run made (they carry its label) when the test
// ends, and fails the test if a container labelled with the run's id
// remains once bake has returned.
func bakeDocker(t *testing.T, cli *client.Client, dir string, args ...string) dockerRun {
	t.Helper()
	code, evs, stderr := buildJSON(t, dir, args...)
	r := dockerRun{code: code, events: evs, stderr: stderr, manifest: filepath.Join(dir, "m.sigstore.json")}
	r.runID = runIDOf(t, evs)
	afterRun(t, cli, r.runID)
	return r
}

// bakeProcess runs the real bake binary with environ and returns the run;
// for what bakeRun cannot do in-process (an environment the engine client
// reads, signals).
func bakeProcess(t *testing.T, cli *client.Client, environ []string, dir string, args ...string) dockerRun {
	t.Helper()
	manifest := filepath.Join(dir, "m.sigstore.json")
	cmd := exec.Command(bakebin.Path(t), append(append([]string{"build", "-json", "-manifest", manifest}, args...), dir)...)
	cmd.Env = environ
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	evs := parseEvents(t, stdout.String())
	r := dockerRun{code: cmd.ProcessState.ExitCode(), events: evs, stderr: stderr.String(), manifest: manifest, runID: runIDOf(t, evs)}
	afterRun(t, cli, r.runID)
	return r
}

// afterRun checks that no container of the run remains and removes the
// run's images when the test ends.
func afterRun(t *testing.T, cli *client.Client, runID string) {
	t.Helper()
	if runID == "" {
		return
	}
	assertNoRunContainers(t, cli, runID)
	t.Cleanup(func() { removeRunImages(t, cli, runID) })
}

// runIDOf reads the run id from the run_started event ("run <id>: ...").
func runIDOf(t *testing.T, evs []engine.Event) string {
	t.Helper()
	for _, e := range evs {
		if e.Type == engine.EventRunStarted {
			id, _, _ := strings.Cut(strings.TrimPrefix(e.Message, "run "), ":")
			return id
		}
	}
	t.Errorf("no run_started event")
	return ""
}

func runLabel(runID string) filters.Args {
	return filters.NewArgs(filters.Arg("label", docker.LabelRunID+"="+runID))
}

// assertNoRunContainers fails when a container labelled with runID exists
// (and removes it, so that one failure does not leak into the next run).
func assertNoRunContainers(t *testing.T, cli *client.Client, runID string) {
	t.Helper()
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runLabel(runID)})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, c := range list {
		t.Errorf("container %.12s (%s) of run %s remains", c.ID, c.State, runID)
		cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
}

// runImages lists the images labelled with runID: a commit copies the
// build container's labels into the image.
func runImages(t *testing.T, cli *client.Client, runID string) []image.Summary {
	t.Helper()
	list, err := cli.ImageList(context.Background(), image.ListOptions{All: true, Filters: runLabel(runID)})
	if err != nil {
		t.Fatalf("list images: %v", err)
	}
	return list
}

func removeRunImages(t *testing.T, cli *client.Client, runID string) {
	for _, im := range runImages(t, cli, runID) {
		removeImageRef(cli, im.ID)
	}
}

func removeImageRef(cli *client.Client, ref string) {
	cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
}

// buildStatus returns the build_finished event of build.
func buildStatus(t *testing.T, evs []engine.Event, build string) engine.Event {
	t.Helper()
	for _, e := range evs {
		if e.Type == engine.EventBuildFinished && e.Build == build {
			return e
		}
	}
	t.Fatalf("no build_finished event for %s", build)
	return engine.Event{}
}

// mustSucceed fails the test unless the run and every build in it
// succeeded.
func (r dockerRun) mustSucceed(t *testing.T) {
	t.Helper()
	if r.code != exitOK {
		var errs []string
		for _, e := range r.events {
			if e.Error != "" {
				errs = append(errs, e.Build+": "+e.Error)
			}
		}
		t.Fatalf("exit %d:\n%s\n%s", r.code, strings.Join(errs, "\n"), r.stderr)
	}
}

// outputLines returns build's output lines on stream ("" for both).
func (r dockerRun) outputLines(build, stream string) []string {
	var lines []string
	for _, e := range r.events {
		if e.Type == engine.EventOutput && e.Build == build && (stream == "" || e.Stream == stream) {
			lines = append(lines, e.Message)
		}
	}
	return lines
}

// artifact returns the artifact event's artifact that builder made for
// build.
func (r dockerRun) artifact(t *testing.T, build, builderName string) *artifacts.Artifact {
	t.Helper()
	for _, e := range r.events {
		if e.Type == engine.EventArtifact && e.Build == build && e.Artifact != nil && e.Artifact.Builder == builderName {
			return e.Artifact
		}
	}
	t.Fatalf("no %s artifact for %s", builderName, build)
	return nil
}

// statement reads the (unsigned) run manifest's in-toto statement.
func (r dockerRun) statement(t *testing.T) artifacts.Statement {
	t.Helper()
	stmt := manifesttest.Statement(t, r.manifest)
	if stmt.Predicate.Fingerprint != r.runID {
		t.Fatalf("manifest is not of run %s: fingerprint %s", r.runID, stmt.Predicate.Fingerprint)
	}
	return stmt
}

// runImageCmd creates and starts a container from ref with its own
// entrypoint and command, the way `docker run ref` does, and returns what
// it printed.
func runImageCmd(t *testing.T, cli *client.Client, ref string) string {
	t.Helper()
	return runInImage(t, cli, ref, nil)
}

// runInImage is runImageCmd with cmd in place of the image's command
// (nil keeps it).
func runInImage(t *testing.T, cli *client.Client, ref string, cmd []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: ref, Cmd: cmd, Labels: map[string]string{labelTest: t.Name()}}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("create container from %s: %v", ref, err)
	}
	defer cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container from %s: %v", ref, err)
	}
	waitC, errC := cli.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			t.Errorf("container from %s exited %d", ref, w.StatusCode)
		}
	case err := <-errC:
		t.Fatalf("wait for container from %s: %v", ref, err)
	}
	rc, err := cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		t.Fatalf("logs: %v", err)
	}
	return out.String()
}

// makeTree writes files under a new directory named name and returns its
// path.
func makeTree(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readHostFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Error(err)
	}
	return string(b)
}

// TestDockerE2EShellAndFiles: inline and script shell steps see
// environment_vars with spaces and quotes and stream their output line by
// line; a directory goes up with and without a trailing slash; a file and
// a directory come down to the host; discard leaves no image.
func TestDockerE2EShellAndFiles(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	tree := makeTree(t, "tree", map[string]string{"a.txt": "alpha\n", "sub/b.txt": "beta\n"})
	down := t.TempDir()
	scriptDir := t.TempDir()
	script := filepath.Join(scriptDir, "greet.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nset -e\necho \"script: $GREETING\"\necho \"script to stderr\" >&2\necho \"empty=[$EMPTY]\"\n"), 0o755)

	dir := writeTemplate(t, fmt.Sprintf(`
source "docker" "files" {
  image   = %q
  pull    = false
  discard = true
}

build {
  sources = ["source.docker.files"]

  provisioner "shell" {
    environment_vars = ["GREETING=it's \"quoted\"  and  spaced $HOME", "EMPTY="]
    inline = [
      "echo \"inline: $GREETING\"",
      "echo one; echo two",
    ]
  }

  provisioner "shell" {
    environment_vars = ["GREETING=it's \"quoted\"  and  spaced $HOME", "EMPTY="]
    script = %q
  }

  provisioner "file" {
    source      = %q
    destination = "/opt"
  }

  provisioner "file" {
    source      = "%s/"
    destination = "/srv/contents"
  }

  provisioner "shell" {
    inline = [
      "cat /opt/tree/a.txt /opt/tree/sub/b.txt /srv/contents/a.txt /srv/contents/sub/b.txt",
      "test ! -e /srv/contents/tree && echo no-nesting",
      "mkdir -p /var/out/logs && echo a > /var/out/a.txt && echo b > /var/out/logs/b.txt",
    ]
  }

  provisioner "file" {
    direction   = "download"
    source      = "/opt/tree/sub/b.txt"
    destination = "%s/b-copy.txt"
  }

  provisioner "file" {
    direction   = "download"
    source      = "/var/out"
    destination = "%s/itself"
  }

  provisioner "file" {
    direction   = "download"
    source      = "/var/out/"
    destination = "%s/contents"
  }
}
`, testenv.BaseImage(), script, tree, tree, down, down, down))
	r := bakeDocker(t, cli, dir)
	r.mustSucceed(t)

	const greeting = `it's "quoted"  and  spaced $HOME`
	stdout := r.outputLines("docker.files", "stdout")
	want := []string{
		"inline: " + greeting, "one", "two",
		"script: " + greeting, "empty=[]",
		"alpha", "beta", "alpha", "beta", "no-nesting",
	}
	if !slices.Equal(stdout, want) {
		t.Errorf("stdout lines:\n got %q\nwant %q", stdout, want)
	}
	if got := r.outputLines("docker.files", "stderr"); !slices.Contains(got, "script to stderr") {
		t.Errorf("stderr lines %q lack the script's", got)
	}

	for p, want := range map[string]string{
		"b-copy.txt":            "beta\n",
		"itself/out/a.txt":      "a\n",
		"itself/out/logs/b.txt": "b\n",
		"contents/a.txt":        "a\n",
		"contents/logs/b.txt":   "b\n",
	} {
		if got := readHostFile(t, filepath.Join(down, p)); got != want {
			t.Errorf("downloaded %s = %q, want %q", p, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(down, "contents", "out")); err == nil {
		t.Errorf("a download of /var/out/ made contents/out; it should copy the contents")
	}

	if ims := runImages(t, cli, r.runID); len(ims) != 0 {
		t.Errorf("discard = true left image(s) %v", ims)
	}
	for _, e := range r.events {
		if e.Type == engine.EventArtifact {
			t.Errorf("discard produced an artifact: %+v", e.Artifact)
		}
	}
}

// TestDockerE2ECommitChanges commits with CMD/ENV/LABEL/WORKDIR changes;
// the image, run by the engine, has the provisioned files and the
// metadata. A build without changes on a base with its own ENTRYPOINT and
// CMD keeps them.
func TestDockerE2ECommitChanges(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	ctx := context.Background()
	app := makeTree(t, "app", map[string]string{"hello.txt": "hello from the host\n"})
	dir := writeTemplate(t, fmt.Sprintf(`
source "docker" "app" {
  image  = %q
  pull   = false
  commit = true
  author = "bake e2e <e2e@bake.dev>"
  changes = [
    "CMD [\"/bin/sh\", \"-c\", \"cat hello.txt made-by-shell; echo mode=$APP_MODE; pwd\"]",
    "ENV APP_MODE=production",
    "LABEL org.example.team=\"image builders\"",
    "WORKDIR /srv/app",
  ]
}

build {
  sources = ["source.docker.app"]
  provisioner "file" {
    source      = %q
    destination = "/srv"
  }
  provisioner "shell" {
    inline = ["echo made by shell > /srv/app/made-by-shell"]
  }
}
`, testenv.BaseImage(), app))
	r := bakeDocker(t, cli, dir)
	r.mustSucceed(t)
	art := r.artifact(t, "docker.app", "docker")
	if !strings.HasPrefix(art.ID, "sha256:") {
		t.Fatalf("artifact id %q is not an image id", art.ID)
	}

	insp, err := cli.ImageInspect(ctx, art.ID)
	if err != nil {
		t.Fatalf("the committed image: %v", err)
	}
	cfg := insp.Config
	if want := []string{"/bin/sh", "-c", "cat hello.txt made-by-shell; echo mode=$APP_MODE; pwd"}; !slices.Equal(cfg.Cmd, want) {
		t.Errorf("Cmd = %q, want %q", cfg.Cmd, want)
	}
	if len(cfg.Entrypoint) != 0 {
		t.Errorf("Entrypoint = %q, want none (the base has none)", cfg.Entrypoint)
	}
	if !slices.Contains(cfg.Env, "APP_MODE=production") {
		t.Errorf("Env = %q", cfg.Env)
	}
	if cfg.Labels["org.example.team"] != "image builders" {
		t.Errorf("Labels = %v", cfg.Labels)
	}
	if cfg.WorkingDir != "/srv/app" {
		t.Errorf("WorkingDir = %q", cfg.WorkingDir)
	}
	if insp.Author != "bake e2e <e2e@bake.dev>" {
		t.Errorf("Author = %q", insp.Author)
	}
	if got, want := runImageCmd(t, cli, art.ID), "hello from the host\nmade by shell\nmode=production\n/srv/app\n"; got != want {
		t.Errorf("the image printed %q, want %q", got, want)
	}

	// A base with its own ENTRYPOINT and CMD, committed here.
	baseRef := "bake-e2e/entry-base:" + randSuffix()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.BaseImage(), Cmd: []string{"true"}, Labels: map[string]string{labelTest: t.Name()}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cli.ContainerCommit(ctx, c.ID, container.CommitOptions{
		Reference: baseRef,
		Changes:   []string{`ENTRYPOINT ["/bin/echo", "entry"]`, `CMD ["base-cmd"]`},
	})
	cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeImageRef(cli, baseRef) })

	dir = writeTemplate(t, fmt.Sprintf(`
source "docker" "keep" {
  image  = %q
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.keep"]
  provisioner "shell" {
    inline = ["echo kept > /kept"]
  }
}
`, baseRef))
	r = bakeDocker(t, cli, dir)
	r.mustSucceed(t)
	art = r.artifact(t, "docker.keep", "docker")
	insp, err = cli.ImageInspect(ctx, art.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/bin/echo", "entry"}; !slices.Equal(insp.Config.Entrypoint, want) {
		t.Errorf("Entrypoint = %q, want the base's %q", insp.Config.Entrypoint, want)
	}
	if want := []string{"base-cmd"}; !slices.Equal(insp.Config.Cmd, want) {
		t.Errorf("Cmd = %q, want the base's %q", insp.Config.Cmd, want)
	}
	if got := runImageCmd(t, cli, art.ID); got != "entry base-cmd\n" {
		t.Errorf("the image printed %q, want %q", got, "entry base-cmd\n")
	}
}

// TestDockerE2EExportAndDiscard runs two docker builds of one template in
// parallel: export_path writes a tar with the provisioned files, discard
// leaves no image, and neither leaves an image.
func TestDockerE2EExportAndDiscard(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	tarPath := filepath.Join(t.TempDir(), "out", "rootfs.tar")
	files := makeTree(t, "etc-app", map[string]string{"app.conf": "port=8080\n"})
	dir := writeTemplate(t, fmt.Sprintf(`
source "docker" "export" {
  image       = %q
  pull        = false
  export_path = %q
}

source "docker" "discard" {
  image   = %q
  pull    = false
  discard = true
}

build {
  sources = ["source.docker.export", "source.docker.discard"]
  provisioner "shell" {
    inline = ["sleep 1", "echo built by ${source.name} > /built-by"]
  }
  provisioner "file" {
    source      = %q
    destination = "/etc"
  }
}
`, testenv.BaseImage(), tarPath, testenv.BaseImage(), files))
	r := bakeDocker(t, cli, dir)
	r.mustSucceed(t)

	sp := spans(t, r.events)
	x, y := sp["docker.export"], sp["docker.discard"]
	if !(x.start.Before(y.end) && y.start.Before(x.end)) {
		t.Errorf("the two builds did not run in parallel: %v %v", x, y)
	}

	got := tarFiles(t, tarPath, "built-by", "etc/etc-app/app.conf")
	if got["built-by"] != "built by export\n" || got["etc/etc-app/app.conf"] != "port=8080\n" {
		t.Errorf("the exported tar holds %q", got)
	}
	art := r.artifact(t, "docker.export", "docker")
	sum, _, err := artifacts.FileSHA256(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(art.Items) != 1 || art.Items[0].Digest != "sha256:"+sum {
		t.Errorf("artifact items %+v, want the tar's digest %s", art.Items, sum)
	}
	if ims := runImages(t, cli, r.runID); len(ims) != 0 {
		t.Errorf("export and discard left image(s) %v", ims)
	}
}

// tarFiles returns the content of the named regular files in the tar at
// path.
func tarFiles(t *testing.T, path string, names ...string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeReg && slices.Contains(names, name) {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			got[name] = string(b)
		}
	}
}

// TestDockerE2EPushAndPullByDigest tags and pushes to the loopback
// registry; the artifact and the run manifest record the pushed digest,
// and pulling by that digest, with the local image gone, gives the same
// image.
func TestDockerE2EPushAndPullByDigest(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	ctx := context.Background()
	repo := testenv.RegistryAddr() + "/bake-e2e/push-" + randSuffix()
	dir := writeTemplate(t, fmt.Sprintf(`
source "docker" "push" {
  image   = %q
  pull    = false
  commit  = true
  changes = ["CMD [\"cat\", \"/pushed\"]"]
}

build {
  sources = ["source.docker.push"]
  provisioner "shell" {
    inline = ["echo pushed by bake > /pushed"]
  }
  post-processors {
    post-processor "docker-tag" {
      repository = %q
      tags       = ["v1"]
    }
    post-processor "docker-push" {}
  }
}
`, testenv.BaseImage(), repo))
	r := bakeDocker(t, cli, dir)
	r.mustSucceed(t)
	imageID := r.artifact(t, "docker.push", "docker").ID
	pushed := r.artifact(t, "docker.push", "docker-push")
	var digest string
	for _, it := range pushed.Items {
		if it.URI == repo+"@"+it.Digest && strings.HasPrefix(it.Digest, "sha256:") && slices.Contains(it.Tags, repo+":v1") {
			digest = it.Digest
		}
	}
	if digest == "" {
		t.Fatalf("the docker-push artifact records no digest for %s: %+v", repo, pushed.Items)
	}
	if pushed.State["repo_digests"] != repo+"@"+digest {
		t.Errorf("repo_digests = %q", pushed.State["repo_digests"])
	}

	// The run manifest records it too.
	recorded := false
	for _, b := range r.statement(t).Predicate.Builds {
		for _, it := range b.Artifacts {
			if it.URI == repo+"@"+digest && it.Digest == digest {
				recorded = true
			}
		}
	}
	if !recorded {
		t.Errorf("the run manifest does not record %s@%s", repo, digest)
	}

	// With the local image gone, a pull by digest gives the same image.
	if _, err := cli.ImageRemove(ctx, imageID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ImageInspect(ctx, imageID); err == nil {
		t.Fatalf("image %s still there after removal", imageID)
	}
	rc, err := cli.ImagePull(ctx, repo+"@"+digest, image.PullOptions{})
	if err != nil {
		t.Fatalf("pull %s@%s: %v", repo, digest, err)
	}
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	insp, err := cli.ImageInspect(ctx, repo+"@"+digest)
	if err != nil {
		t.Fatalf("the pulled image: %v", err)
	}
	if insp.ID != imageID {
		t.Errorf("pulled image id %s, built %s", insp.ID, imageID)
	}
	if got := runImageCmd(t, cli, insp.ID); got != "pushed by bake\n" {
		t.Errorf("the pulled image printed %q", got)
	}
}

// TestDockerE2EExecUserOwnsUploads: exec_user applies to every command,
// so a first build commits an image with the user; a second build as that
// user uploads a file and a directory, which end up owned by it.
func TestDockerE2EExecUserOwnsUploads(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	userImage := "bake-e2e/with-user:" + randSuffix()
	dir := writeTemplate(t, fmt.Sprintf(`
source "docker" "user" {
  image  = %q
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.user"]
  provisioner "shell" {
    inline = ["useradd --create-home --uid 1234 --user-group builder"]
  }
  post-processor "docker-tag" {
    repository = %q
    tags       = [%q]
  }
}
`, testenv.BaseImage(), strings.Split(userImage, ":")[0], strings.Split(userImage, ":")[1]))
	bakeDocker(t, cli, dir).mustSucceed(t)

	tree := makeTree(t, "tree", map[string]string{"a.txt": "a\n", "sub/b.txt": "b\n"})
	dir = writeTemplate(t, fmt.Sprintf(`
source "docker" "as-user" {
  image     = %q
  pull      = false
  discard   = true
  exec_user = "builder"
}

build {
  sources = ["source.docker.as-user"]
  provisioner "file" {
    content     = "uploaded\n"
    destination = "/srv/drop/file.txt"
  }
  provisioner "file" {
    source      = %q
    destination = "/opt"
  }
  provisioner "shell" {
    inline = [
      "id -un",
      "stat -c '%%U:%%G %%n' /srv/drop/file.txt /opt/tree /opt/tree/a.txt /opt/tree/sub /opt/tree/sub/b.txt",
    ]
  }
}
`, userImage, tree))
	r := bakeDocker(t, cli, dir)
	r.mustSucceed(t)
	want := []string{
		"builder",
		"builder:builder /srv/drop/file.txt",
		"builder:builder /opt/tree",
		"builder:builder /opt/tree/a.txt",
		"builder:builder /opt/tree/sub",
		"builder:builder /opt/tree/sub/b.txt",
	}
	if got := r.outputLines("docker.as-user", "stdout"); !slices.Equal(got, want) {
		t.Errorf("as exec_user:\n got %q\nwant %q", got, want)
	}
}

// TestDockerE2EFailures: each failure exits 1 with an error that says
// what went wrong, and leaves no container.
func TestDockerE2EFailures(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())

	// A registry that refuses every request.
	var refused atomic.Int32
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refused.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="bake-e2e"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	}))
	t.Cleanup(refusing.Close)
	refusedRepo := strings.TrimPrefix(refusing.URL, "http://") + "/bake-e2e/refused"
	missing := "bake.local/no-such-image:missing-" + randSuffix()
	missingRemote := testenv.RegistryAddr() + "/bake-e2e/absent:missing-" + randSuffix()

	for _, tc := range []struct {
		name   string
		source string // the source block's options
		build  string // the build block's provisioners and post-processors
		want   []string
	}{
		{
			name:   "provisioner exits non-zero",
			source: fmt.Sprintf("image = %q\npull = false\ncommit = true", testenv.BaseImage()),
			build:  `provisioner "shell" { inline = ["echo about to fail", "exit 42"] }`,
			want:   []string{"42"},
		},
		{
			name:   "local image does not exist",
			source: fmt.Sprintf("image = %q\npull = false\ncommit = true", missing),
			want:   []string{missing, "does not exist"},
		},
		{
			name:   "image not in the registry",
			source: fmt.Sprintf("image = %q\ncommit = true", missingRemote),
			want:   []string{missingRemote},
		},
		{
			name:   "registry refuses the push",
			source: fmt.Sprintf("image = %q\npull = false\ncommit = true", testenv.BaseImage()),
			build: fmt.Sprintf(`post-processors {
  post-processor "docker-tag" {
    repository = %q
  }
  post-processor "docker-push" {}
}`, refusedRepo),
			want: []string{"push " + refusedRepo + ":latest"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTemplate(t, fmt.Sprintf("source \"docker\" \"fail\" {\n%s\n}\n\nbuild {\n  sources = [\"source.docker.fail\"]\n%s\n}\n", tc.source, tc.build))
			r := bakeDocker(t, cli, dir)
			assertFailed(t, r, tc.want...)
			if strings.Contains(tc.build, refusedRepo) && refused.Load() == 0 {
				t.Errorf("the push never reached the refusing registry")
			}
		})
	}

	// The engine is unreachable. The engine client reads DOCKER_HOST from
	// the process environment, so this runs the real binary.
	t.Run("engine unreachable", func(t *testing.T) {
		dir := writeTemplate(t, fmt.Sprintf(`
source "docker" "fail" {
  image  = %q
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.fail"]
}
`, testenv.BaseImage()))
		env := append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "DOCKER_")
		}), "DOCKER_HOST=unix:///nonexistent.sock")
		r := bakeProcess(t, cli, env, dir)
		assertFailed(t, r, "unix:///nonexistent.sock", "no such file or directory")
	})
}

// assertFailed checks that the run exited 1 with one failed build whose
// error holds each of want.
func assertFailed(t *testing.T, r dockerRun, want ...string) {
	t.Helper()
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitFailed, r.stderr)
	}
	e := buildStatus(t, r.events, "docker.fail")
	if e.Status != "failed" {
		t.Errorf("status %q, want failed", e.Status)
	}
	for _, w := range want {
		if !strings.Contains(e.Error, w) {
			t.Errorf("error %q does not say %q", e.Error, w)
		}
	}
	t.Logf("error: %s", e.Error)
}

// TestDockerE2EInterrupt sends SIGINT, and SIGHUP (a closed terminal), to
// the real bake process while a provisioner sleeps in the container: bake
// exits 130 after its cleanups, the container is gone, and the run
// manifest records the build as cancelled.
func TestDockerE2EInterrupt(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP} {
		name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP"}[sig]
		t.Run(name, func(t *testing.T) { testDockerInterrupt(t, cli, sig, name) })
	}
}

func testDockerInterrupt(t *testing.T, cli *client.Client, sig syscall.Signal, name string) {
	dir := writeTemplate(t, fmt.Sprintf(`
source "docker" "long" {
  image  = %q
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.long"]
  provisioner "shell" {
    inline = ["echo started", "sleep 300"]
  }
}
`, testenv.BaseImage()))
	manifest := filepath.Join(dir, "m.json")
	cmd := exec.Command(bakebin.Path(t), "build", "-json", "-manifest", manifest, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read events as they come; signal once the provisioner has started.
	started := make(chan struct{})
	done := make(chan []engine.Event, 1)
	go func() {
		var evs []engine.Event
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e engine.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				evs = append(evs, e)
				if e.Type == engine.EventOutput && e.Message == "started" {
					close(started)
				}
			}
		}
		done <- evs
	}()
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the provisioner never started:\n%s", stderr.String())
	}
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	cmd.Process.Signal(sig)
	var evs []engine.Event
	select {
	case evs = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("bake did not exit after %s:\n%s", name, stderr.String())
	}
	cmd.Wait()
	t.Logf("bake exited %s after %s", time.Since(t0).Round(time.Millisecond), name)
	runID := runIDOf(t, evs)
	afterRun(t, cli, runID)
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d (%s), want %d\n%s", code, cmd.ProcessState, exitInterrupted, stderr.String())
	}

	var messages []string
	cleaned := map[string]bool{}
	for _, e := range evs {
		switch e.Type {
		case engine.EventMessage:
			messages = append(messages, e.Message)
		case engine.EventCleanup:
			cleaned[e.Step] = e.Error == ""
		}
	}
	text := strings.Join(messages, "\n")
	for _, want := range []string{name + " received", "cancelled: stopped running commands and ran"} {
		if !strings.Contains(text, want) {
			t.Errorf("messages lack %q:\n%s", want, text)
		}
	}
	if !cleaned["start container"] {
		t.Errorf("no successful cleanup of the container: %v", cleaned)
	}
	if st := buildStatus(t, evs, "docker.long").Status; st != "cancelled" {
		t.Errorf("status %q, want cancelled", st)
	}
	if ims := runImages(t, cli, runID); len(ims) != 0 {
		t.Errorf("an interrupted build left image(s) %v", ims)
	}
	builds := dockerRun{manifest: manifest, runID: runID}.statement(t).Predicate.Builds
	if len(builds) != 1 || builds[0].Status != artifacts.StatusCancelled || !strings.Contains(builds[0].Error, name) {
		t.Errorf("the run manifest records %+v, want docker.long cancelled by %s", builds, name)
	}
}
