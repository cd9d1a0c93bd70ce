package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/testutil/proctest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
	"github.com/bake-tool/bake/provisioners"
)

// engine returns a client for the test engine, failing the test when
// there is none or the base image is missing.
func engine(t *testing.T) dockerAPI {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api, err := connect(ctx, newEngineClient)
	if err != nil {
		t.Fatalf("docker engine: %v (run scripts/setup.sh)", err)
	}
	if _, err := api.ImageInspect(ctx, testenv.BaseImage()); err != nil {
		api.Close()
		t.Fatalf("base image %s: %v (run scripts/setup.sh)", testenv.BaseImage(), err)
	}
	t.Cleanup(func() { api.Close() })
	return api
}

// newRunID returns a run id unique to the test, and registers a check
// that no container labelled with it remains when the test ends.
func newRunID(t *testing.T, api dockerAPI) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	id := "test-" + hex.EncodeToString(b)
	t.Cleanup(func() { assertNoContainers(t, api, id) })
	return id
}

// assertNoContainers fails when a container with run id's label exists.
func assertNoContainers(t *testing.T, api dockerAPI, runID string) {
	t.Helper()
	c, ok := api.(interface {
		ContainerList(context.Context, container.ListOptions) ([]container.Summary, error)
	})
	if !ok {
		t.Fatal("engine client cannot list containers")
	}
	list, err := c.ContainerList(context.Background(), container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelRunID+"="+runID)),
	})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, ct := range list {
		t.Errorf("container %s (%s) with label %s=%s remains", short(ct.ID), ct.State, LabelRunID, runID)
		api.ContainerRemove(context.Background(), ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
}

// removeImageAtEnd removes ref (an id or tag) when the test ends.
func removeImageAtEnd(t *testing.T, api dockerAPI, ref string) {
	t.Helper()
	t.Cleanup(func() {
		api.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
}

// testUI records what a build reports.
type testUI struct {
	mu     sync.Mutex
	lines  []string
	stdout proctest.Buffer
	stderr proctest.Buffer
	t      *testing.T
}

func newUI(t *testing.T) *testUI { return &testUI{t: t} }

func (u *testUI) Say(msg string) {
	u.mu.Lock()
	u.lines = append(u.lines, msg)
	u.mu.Unlock()
	u.t.Log(msg)
}
func (u *testUI) Error(msg string)  { u.Say("error: " + msg) }
func (u *testUI) Stdout() io.Writer { return &u.stdout }
func (u *testUI) Stderr() io.Writer { return &u.stderr }

// testConfig is a prepared docker Config for the local base image.
func testConfig() *Config {
	return &Config{
		Communicator:   "docker",
		Image:          testenv.BaseImage(),
		Pull:           ptr(false),
		ContainerDir:   DefaultContainerDir,
		FixUploadOwner: ptr(true),
	}
}

func testOptions(runID, name string) builder.Options {
	return builder.Options{RunID: runID, BuildID: runID + "-docker." + name, CleanupTimeout: time.Minute}
}

// run runs command through comm and fails the test unless it exits 0;
// it returns the command's stdout.
func run(ctx context.Context, t *testing.T, comm provisioners.Communicator, command string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := comm.Run(ctx, &provisioners.Cmd{Command: command, Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatalf("run %q: %v", command, err)
	}
	if code != 0 {
		t.Fatalf("run %q: exit %d: %s%s", command, code, out.String(), errOut.String())
	}
	return strings.TrimSpace(out.String())
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
