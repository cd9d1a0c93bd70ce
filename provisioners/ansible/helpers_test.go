package ansible

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/communicator/sshproxy"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/testui"
	"github.com/bake-tool/bake/ui"
)

// needAnsible fails the test when Ansible is not installed here.
func needAnsible(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatal("ansible-playbook is not installed: run scripts/setup.sh")
	}
}

// newRunID returns a fresh run id, and checks at the end of the test that
// no container, temporary directory or process (an SSH control master)
// of that run is left.
func newRunID(t *testing.T, cli *client.Client) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	id := "test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelRunID+"="+id))})
		if err != nil {
			t.Error(err)
		}
		for _, c := range list {
			t.Errorf("container %s of the run is left", c.ID[:12])
			cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		assertNoTemp(t, id)
		assertNoProcess(t, TempPrefix(id))
	})
	return id
}

// assertNoTemp fails when a temporary directory of run id is left.
func assertNoTemp(t *testing.T, runID string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), TempPrefix(runID)+"*"))
	for _, l := range left {
		t.Errorf("temporary %s is left", l)
	}
}

// assertClosed fails when the proxy still accepts connections.
func assertClosed(t *testing.T, srv *sshproxy.Server) {
	t.Helper()
	if srv == nil {
		t.Error("the proxy never started")
		return
	}
	if c, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("the proxy still listens on %s", srv.Addr())
	}
}

// build runs a docker build from image that calls hook, committing the
// result when commit is set (the image is removed at the end of the test).
func build(ctx context.Context, t testing.TB, cli *client.Client, runID, img string, commit bool, hook builder.Hook) (*artifacts.Artifact, error) {
	t.Helper()
	f := false
	tr := true
	cfg := &docker.Config{Communicator: "docker", Image: img, Pull: &f, ContainerDir: docker.DefaultContainerDir, FixUploadOwner: &tr, Commit: commit, Discard: !commit}
	opts := builder.Options{RunID: runID, BuildID: runID + "-docker.ansible", Name: "docker.ansible", CleanupTimeout: time.Minute}
	art, err := docker.New(cfg, opts).Build(ctx, testui.New(t), hook)
	if art != nil && art.ID != "" {
		t.Cleanup(func() {
			cli.ImageRemove(context.Background(), art.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		})
	}
	return art, err
}

// provision returns a hook that runs p.
func provision(t *testing.T, p *Provisioner, ui ui.UI) builder.Hook {
	return func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		return p.Provision(ctx, ui, comm, info)
	}
}

// tarRole packs the role directory dir as NAME.tar.gz in out, the form
// ansible-galaxy installs from a local path.
func tarRole(t *testing.T, dir, out string) string {
	t.Helper()
	name := filepath.Base(dir)
	path := filepath.Join(out, name+".tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(dir), p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}
