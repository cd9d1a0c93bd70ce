package ansiblelocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/internal/testutil/testenv"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/testui"
)

// build runs a docker build that calls hook and fails the test when a
// container of the run is left; a committed image is removed at the end.
func build(ctx context.Context, t *testing.T, cli *client.Client, img string, commit bool, hook builder.Hook) (*artifacts.Artifact, error) {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	runID := "test-" + hex.EncodeToString(b)
	f, tr := false, true
	cfg := &docker.Config{Communicator: "docker", Image: img, Pull: &f, ContainerDir: docker.DefaultContainerDir, FixUploadOwner: &tr, Commit: commit, Discard: !commit}
	opts := builder.Options{RunID: runID, BuildID: runID + "-docker.local", Name: "docker.local", CleanupTimeout: time.Minute}
	art, err := docker.New(cfg, opts).Build(ctx, testui.New(t), hook)
	if art != nil && art.ID != "" {
		t.Cleanup(func() {
			cli.ImageRemove(context.Background(), art.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		})
	}
	list, lerr := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelRunID+"="+runID))})
	if lerr != nil || len(list) != 0 {
		t.Errorf("containers of the run left: %d (%v)", len(list), lerr)
	}
	return art, err
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDocker: ansible-local in a docker build, with a role, group_vars,
// inventory_groups and extra_arguments; the result is checked inside the
// committed image, and the staging directory is gone from it.
func TestDocker(t *testing.T) {
	cli := testenv.Docker(t, testenv.AnsibleImage())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := &Config{
		PlaybookFile:    abs(t, "testdata/local.yml"),
		RolePaths:       []string{abs(t, "testdata/roles/local")},
		GroupVars:       abs(t, "testdata/group_vars"),
		InventoryGroups: []string{"web"},
		ExtraArguments:  []string{"-e", "from_extra=extra"},
	}
	cfg.setDefaults()
	p := New(cfg)
	ui := testui.New(t)
	art, err := build(ctx, t, cli, testenv.AnsibleImage(), true, func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		info.Type = "docker"
		return p.Provision(ctx, ui, comm, info)
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	_, err = build(ctx, t, cli, art.ID, false, func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		var b strings.Builder
		if err := comm.Download(ctx, "/etc/bake-local", &b); err != nil {
			t.Errorf("/etc/bake-local: %v", err)
		} else if b.String() != "group extra docker\n" {
			t.Errorf("/etc/bake-local = %q", b.String())
		}
		var left strings.Builder
		comm.Run(ctx, &provisioners.Cmd{Command: "ls -A " + DefaultStagingParent, Stdout: &left})
		if s := strings.TrimSpace(left.String()); s != "" {
			t.Errorf("staging left in the image: %s", s)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("check build: %v", err)
	}
}

// TestFailingTask: a failing task fails the step naming the task and the
// host, and the staging directory is still removed.
func TestFailingTask(t *testing.T) {
	cli := testenv.Docker(t, testenv.AnsibleImage())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := &Config{PlaybookFile: abs(t, "testdata/fail.yml"), StagingDir: "/tmp/bake-staging-test"}
	cfg.setDefaults()
	var left string
	_, err := build(ctx, t, cli, testenv.AnsibleImage(), false, func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		err := New(cfg).Provision(ctx, testui.New(t), comm, info)
		var b strings.Builder
		comm.Run(ctx, &provisioners.Cmd{Command: "ls -d /tmp/bake-staging-test 2>/dev/null", Stdout: &b})
		left = b.String()
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `task "this task fails" failed on host 127.0.0.1`) {
		t.Fatalf("err = %v, want the task and host named", err)
	}
	if left != "" {
		t.Errorf("staging directory left: %s", left)
	}
}
