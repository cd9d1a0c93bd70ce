package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/testutil/proctest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
	"github.com/bake-tool/bake/provisioners"
)

// writeTree makes a local directory tree for uploads.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runImage runs ref with its own entrypoint and command (plus cmd, when
// given) and returns what it printed.
func runImage(ctx context.Context, t *testing.T, api dockerAPI, runID, ref string, cmd ...string) string {
	t.Helper()
	c := api.(interface {
		ContainerWait(context.Context, string, container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
		ContainerLogs(context.Context, string, container.LogsOptions) (io.ReadCloser, error)
	})
	created, err := api.ContainerCreate(ctx, &container.Config{Image: ref, Cmd: cmd, Labels: map[string]string{LabelRunID: runID}}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("create container from %s: %v", ref, err)
	}
	defer api.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	if err := api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container from %s: %v", ref, err)
	}
	waitC, errC := c.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			t.Errorf("container from %s exited %d", ref, w.StatusCode)
		}
	case err := <-errC:
		t.Fatalf("wait for container: %v", err)
	}
	rc, err := c.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer rc.Close()
	var out bytes.Buffer
	stdcopy.StdCopy(&out, &out, rc)
	return out.String()
}

// TestBuildCommit runs commands, moves files both ways and commits with
// changes; the committed image, run by the engine, has the files and the
// configured metadata.
func TestBuildCommit(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)

	src := writeTree(t, map[string]string{"hello.txt": "hello from the host\n", "sub/deep.txt": "deep\n"})
	single := writeTree(t, map[string]string{"one.conf": "one=1\n"})
	downloads := t.TempDir()

	cfg := testConfig()
	cfg.Commit = true
	cfg.Changes = []string{
		`CMD ["/bin/sh", "-c", "cat /opt/app/hello.txt /opt/app/sub/deep.txt /etc/one.conf; echo greeting=$GREETING; pwd; cat /made-by-run"]`,
		"ENV GREETING=hi THERE=there",
		`LABEL org.example.team="image builders" version=1`,
		"WORKDIR /opt/app",
		"EXPOSE 8080",
	}
	cfg.Author = "bake tests <tests@bake.dev>"
	cfg.Message = "built by TestBuildCommit"

	ui := newUI(t)
	var gotInfo provisioners.BuildInfo
	hook := func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		gotInfo = info
		// Inline commands with environment variables, output streamed.
		out := run(ctx, t, comm, "FOO='with spaces'; export FOO; echo \"foo=$FOO\"; echo to-stderr >&2")
		if out != "foo=with spaces" {
			t.Errorf("output = %q", out)
		}
		firstAt := make(chan time.Time, 1)
		w := writerFunc(func(p []byte) (int, error) {
			select {
			case firstAt <- time.Now():
			default:
			}
			return len(p), nil
		})
		t0 := time.Now()
		code, err := comm.Run(ctx, &provisioners.Cmd{Command: "echo first; sleep 1.5; echo second", Stdout: w})
		if err != nil || code != 0 {
			t.Fatalf("streamed command: %d, %v", code, err)
		}
		if d := (<-firstAt).Sub(t0); d > time.Second {
			t.Errorf("first output line arrived after %s, not as it was written", d)
		}
		var fromStdin bytes.Buffer
		if code, err := comm.Run(ctx, &provisioners.Cmd{Command: "tr a-z A-Z", Stdin: strings.NewReader("piped in\n"), Stdout: &fromStdin}); err != nil || code != 0 || fromStdin.String() != "PIPED IN\n" {
			t.Errorf("stdin: %d, %v, %q", code, err, fromStdin.String())
		}
		if code, err := comm.Run(ctx, &provisioners.Cmd{Command: "exit 7"}); err != nil || code != 7 {
			t.Errorf("exit 7: got %d, %v", code, err)
		}
		// container_dir exists.
		run(ctx, t, comm, "test -d "+DefaultContainerDir)
		// A directory up (without trailing slash: the directory itself).
		if err := comm.UploadDir(ctx, "/opt", filepath.Join(src)); err != nil {
			return err
		}
		run(ctx, t, comm, "mv /opt/"+filepath.Base(src)+" /opt/app")
		// A directory's contents (trailing slash) into an existing directory.
		if err := comm.UploadDir(ctx, "/etc", single+"/"); err != nil {
			return err
		}
		// A file up, from a reader of unknown length.
		if err := comm.Upload(ctx, "/usr/local/bin/hi", io.MultiReader(strings.NewReader("#!/bin/sh\necho hi\n")), 0o755); err != nil {
			return err
		}
		if got := run(ctx, t, comm, "hi; stat -c %a /usr/local/bin/hi; stat -c %a /etc"); got != "hi\n755\n755" {
			t.Errorf("uploaded script: %q", got)
		}
		run(ctx, t, comm, "echo made by run > /made-by-run; mkdir -p /var/out/logs; echo a > /var/out/a.txt; echo b > /var/out/logs/b.txt; ln -s a.txt /var/out/link")
		// A file down.
		var buf bytes.Buffer
		if err := comm.Download(ctx, "/opt/app/sub/deep.txt", &buf); err != nil {
			return err
		}
		if buf.String() != "deep\n" {
			t.Errorf("downloaded file = %q", buf.String())
		}
		// A directory down, itself and its contents.
		if err := comm.DownloadDir(ctx, "/var/out", filepath.Join(downloads, "itself")); err != nil {
			return err
		}
		if err := comm.DownloadDir(ctx, "/var/out/", filepath.Join(downloads, "contents")); err != nil {
			return err
		}
		return nil
	}
	b := New(cfg, testOptions(runID, "commit"))
	art, err := b.Build(ctx, ui, hook)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	removeImageAtEnd(t, api, art.ID)

	if gotInfo.RunID != runID || gotInfo.Name != "docker.commit" || gotInfo.SourceName != "commit" || gotInfo.Type != "docker" {
		t.Errorf("build info = %+v", gotInfo)
	}
	if !strings.Contains(ui.stderr.String(), "") || !strings.Contains(ui.Stdout().(*proctest.Buffer).String(), "") {
		t.Log("ui output checked through the communicator")
	}
	for p, want := range map[string]string{
		"itself/out/a.txt":        "a\n",
		"itself/out/logs/b.txt":   "b\n",
		"contents/a.txt":          "a\n",
		"contents/logs/b.txt":     "b\n",
		"contents/link (symlink)": "a.txt",
	} {
		if strings.HasSuffix(p, " (symlink)") {
			got, err := os.Readlink(filepath.Join(downloads, strings.TrimSuffix(p, " (symlink)")))
			if err != nil || got != want {
				t.Errorf("downloaded link %s = %q, %v", p, got, err)
			}
			continue
		}
		if got := readFile(t, filepath.Join(downloads, p)); got != want {
			t.Errorf("downloaded %s = %q, want %q", p, got, want)
		}
	}

	// The artifact.
	if !strings.HasPrefix(art.ID, "sha256:") || art.Builder != "docker" || art.Build != "docker.commit" {
		t.Errorf("artifact = %+v", art)
	}
	if len(art.Items) != 1 || art.Items[0].ExternalIdentifier != art.ID || art.Items[0].Digest != art.ID {
		t.Errorf("artifact items = %+v", art.Items)
	}
	base, err := api.ImageInspect(ctx, testenv.BaseImage())
	if err != nil {
		t.Fatal(err)
	}
	if art.Parent == nil || art.Parent.ImageID != base.ID || art.Parent.Ref != testenv.BaseImage() {
		t.Errorf("artifact parent = %+v, want image %s", art.Parent, base.ID)
	}

	// The image's metadata.
	insp, err := api.ImageInspect(ctx, art.ID)
	if err != nil {
		t.Fatal(err)
	}
	ic := insp.Config
	if ic.WorkingDir != "/opt/app" {
		t.Errorf("WorkingDir = %q", ic.WorkingDir)
	}
	for _, e := range []string{"GREETING=hi", "THERE=there"} {
		if !slices.Contains(ic.Env, e) {
			t.Errorf("Env %v lacks %s", ic.Env, e)
		}
	}
	if ic.Labels["org.example.team"] != "image builders" || ic.Labels["version"] != "1" {
		t.Errorf("Labels = %v", ic.Labels)
	}
	if _, ok := ic.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v", ic.ExposedPorts)
	}
	if len(ic.Entrypoint) != 0 {
		t.Errorf("Entrypoint = %q, want none (the build's keep-alive must not leak)", ic.Entrypoint)
	}
	if insp.Author != cfg.Author || insp.Comment != cfg.Message {
		t.Errorf("author %q, comment %q", insp.Author, insp.Comment)
	}

	// Run by the engine, the image has the files and the metadata.
	out := runImage(ctx, t, api, runID, art.ID)
	want := "hello from the host\ndeep\none=1\ngreeting=hi\n/opt/app\nmade by run\n"
	if out != want {
		t.Errorf("the image printed\n%s\nwant\n%s", out, want)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestBuildKeepsBaseCmdEntrypoint: a commit keeps the base image's CMD
// and ENTRYPOINT unless the changes set them; an ENTRYPOINT change
// clears the inherited CMD, as in a Dockerfile.
func TestBuildKeepsBaseCmdEntrypoint(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	base, err := api.ImageInspect(ctx, testenv.BaseImage())
	if err != nil {
		t.Fatal(err)
	}

	build := func(name, image string, changes ...string) image.InspectResponse {
		t.Helper()
		cfg := testConfig()
		cfg.Image = image
		cfg.Commit = true
		cfg.Changes = changes
		art, err := New(cfg, testOptions(runID, name)).Build(ctx, newUI(t), nil)
		if err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
		removeImageAtEnd(t, api, art.ID)
		insp, err := api.ImageInspect(ctx, art.ID)
		if err != nil {
			t.Fatal(err)
		}
		return insp
	}

	plain := build("plain", testenv.BaseImage(), "ENV X=1")
	if !slices.Equal(plain.Config.Cmd, base.Config.Cmd) || len(plain.Config.Entrypoint) != 0 {
		t.Errorf("no CMD change: Cmd %q Entrypoint %q, want Cmd %q and no entrypoint", plain.Config.Cmd, plain.Config.Entrypoint, base.Config.Cmd)
	}

	withEP := build("entrypoint", testenv.BaseImage(), `ENTRYPOINT ["/bin/echo", "from-entrypoint"]`)
	if !slices.Equal(withEP.Config.Entrypoint, []string{"/bin/echo", "from-entrypoint"}) || len(withEP.Config.Cmd) != 0 {
		t.Errorf("ENTRYPOINT change: Entrypoint %q Cmd %q", withEP.Config.Entrypoint, withEP.Config.Cmd)
	}

	kept := build("kept", withEP.ID, "CMD [\"arg\"]")
	if !slices.Equal(kept.Config.Entrypoint, []string{"/bin/echo", "from-entrypoint"}) || !slices.Equal(kept.Config.Cmd, []string{"arg"}) {
		t.Errorf("CMD change on an ENTRYPOINT base: Entrypoint %q Cmd %q", kept.Config.Entrypoint, kept.Config.Cmd)
	}
	if out := runImage(ctx, t, api, runID, kept.ID); out != "from-entrypoint arg\n" {
		t.Errorf("running the image printed %q", out)
	}

	shell := build("shellform", testenv.BaseImage(), "CMD echo shell form $HOME")
	if !slices.Equal(shell.Config.Cmd, []string{"/bin/sh", "-c", "echo shell form $HOME"}) {
		t.Errorf("shell-form CMD = %q", shell.Config.Cmd)
	}
}

// TestBuildExecUserUploads: with exec_user, commands run as that user and
// uploads are owned by it (set in the tar headers, no chown pass).
func TestBuildExecUserUploads(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)

	cfg := testConfig()
	cfg.Discard = true
	cfg.ExecUser = "builder"
	src := writeTree(t, map[string]string{"a.txt": "a", "d/b.txt": "b"})
	hook := func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		root := asRoot(comm)
		run(ctx, t, root, "useradd -u 1234 -m builder && mkdir /srv/drop")
		if got := run(ctx, t, comm, "id -un"); got != "builder" {
			t.Errorf("commands run as %q", got)
		}
		if err := comm.Upload(ctx, "/srv/drop/file.txt", strings.NewReader("x"), 0); err != nil {
			return err
		}
		if err := comm.UploadDir(ctx, "/home/builder", src); err != nil {
			return err
		}
		got := run(ctx, t, root, "cd / && stat -c '%U:%G %a %n' /srv/drop/file.txt /home/builder/"+filepath.Base(src)+" /home/builder/"+filepath.Base(src)+"/d /home/builder/"+filepath.Base(src)+"/d/b.txt /home/builder")
		for _, line := range strings.Split(got, "\n") {
			if !strings.HasPrefix(line, "builder:builder ") {
				t.Errorf("not owned by builder: %s", line)
			}
		}
		if !strings.Contains(got, "644 /srv/drop/file.txt") {
			t.Errorf("file mode: %s", got)
		}
		return nil
	}
	if _, err := New(cfg, testOptions(runID, "user")).Build(ctx, newUI(t), hook); err != nil {
		t.Fatal(err)
	}

	// With fix_upload_owner = false the files stay root's.
	runID2 := newRunID(t, api)
	cfg.FixUploadOwner = ptr(false)
	hook = func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		root := asRoot(comm)
		run(ctx, t, root, "useradd builder")
		if err := comm.Upload(ctx, "/tmp/f", strings.NewReader("x"), 0o600); err != nil {
			return err
		}
		if got := run(ctx, t, root, "stat -c %U /tmp/f"); got != "root" {
			t.Errorf("fix_upload_owner = false: owned by %s", got)
		}
		return nil
	}
	if _, err := New(cfg, testOptions(runID2, "user")).Build(ctx, newUI(t), hook); err != nil {
		t.Fatal(err)
	}
}

// TestBuildExport: export_path writes a tar of the container's file
// system, and the artifact records its sha256 and size.
func TestBuildExport(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)

	cfg := testConfig()
	cfg.ExportPath = filepath.Join(t.TempDir(), "out", "rootfs.tar")
	hook := func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		return comm.Upload(ctx, "/etc/exported.txt", strings.NewReader("exported\n"), 0o600)
	}
	art, err := New(cfg, testOptions(runID, "export")).Build(ctx, newUI(t), hook)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cfg.ExportPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	it := art.Items[0]
	if it.Digest != "sha256:"+hex.EncodeToString(sum[:]) || it.Size != int64(len(data)) || it.Format != "tar" || it.Path == "" {
		t.Errorf("export item = %+v (file is %d bytes)", it, len(data))
	}
	found := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "etc/exported.txt" || h.Name == "etc/debian_version" || h.Name == "packer-files/" {
			b, _ := io.ReadAll(tr)
			found[h.Name] = string(b)
		}
	}
	if found["etc/exported.txt"] != "exported\n" {
		t.Errorf("tar lacks etc/exported.txt: %v", found)
	}
	if _, ok := found["etc/debian_version"]; !ok {
		t.Errorf("tar lacks etc/debian_version")
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(cfg.ExportPath), ".*tmp*")); len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

// listRunImages lists the images built by a run (a commit keeps the
// container's labels).
func listRunImages(ctx context.Context, t *testing.T, api dockerAPI, runID string) []image.Summary {
	t.Helper()
	c := api.(interface {
		ImageList(context.Context, image.ListOptions) ([]image.Summary, error)
	})
	list, err := c.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelRunID+"="+runID))})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestBuildDiscard: discard returns no artifact and leaves no image.
func TestBuildDiscard(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	cfg := testConfig()
	cfg.Discard = true
	ran := false
	art, err := New(cfg, testOptions(runID, "discard")).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		ran = true
		run(ctx, t, comm, "touch /x")
		return nil
	})
	if err != nil || art != nil || !ran {
		t.Fatalf("discard: artifact %v, err %v, hook ran %v", art, err, ran)
	}
	if imgs := listRunImages(ctx, t, api, runID); len(imgs) != 0 {
		t.Errorf("discard left images: %v", imgs)
	}
}

// TestBuildFailures: each failure returns a clear error and leaves no
// container behind.
func TestBuildFailures(t *testing.T) {
	api := engine(t)
	tests := []struct {
		name string
		cfg  func(*Config)
		env  map[string]string
		hook builder.Hook
		want []string
	}{{
		name: "command exits non-zero",
		hook: func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
			code, err := comm.Run(ctx, &provisioners.Cmd{Command: "echo partial; exit 3"})
			if err != nil {
				return err
			}
			if code != 0 {
				return fmt.Errorf("script exited %d", code)
			}
			return nil
		},
		want: []string{"provision: script exited 3"},
	}, {
		name: "local image missing",
		cfg:  func(c *Config) { c.Image = "bake.local/does-not-exist:nope" },
		want: []string{`image "bake.local/does-not-exist:nope" does not exist locally`},
	}, {
		name: "pulled image missing",
		cfg: func(c *Config) {
			c.Image = testenv.RegistryAddr() + "/bake-test/does-not-exist:nope"
			c.Pull = ptr(true)
		},
		want: []string{`pull image "` + testenv.RegistryAddr() + `/bake-test/does-not-exist:nope"`},
	}, {
		name: "engine unreachable",
		env:  map[string]string{"DOCKER_HOST": "unix:///nonexistent.sock"},
		want: []string{"cannot reach the Docker engine at unix:///nonexistent.sock: stat /nonexistent.sock: no such file or directory"},
	}, {
		name: "engine unreachable over tcp",
		env:  map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:1"},
		want: []string{"cannot reach the Docker engine at tcp://127.0.0.1:1"},
	}, {
		name: "changes the engine rejects",
		cfg:  func(c *Config) { c.Changes = []string{"EXPOSE not-a-port"} },
		want: []string{"commit container"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			runID := newRunID(t, api)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg := testConfig()
			cfg.Commit = true
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			art, err := New(cfg, testOptions(runID, "fail")).Build(ctx, newUI(t), tt.hook)
			if err == nil {
				removeImageAtEnd(t, api, art.ID)
				t.Fatal("Build succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if imgs := listRunImages(ctx, t, api, runID); len(imgs) != 0 {
				t.Errorf("a failed build left images: %v", imgs)
			}
		})
	}
}

// TestBuildCancel: cancelling during a long command stops the build
// promptly with context.Canceled, and the container is removed.
func TestBuildCancel(t *testing.T) {
	api := engine(t)
	runID := newRunID(t, api)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	cfg := testConfig()
	cfg.Commit = true
	started := make(chan struct{})
	go func() {
		<-started
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	t0 := time.Now()
	_, err := New(cfg, testOptions(runID, "cancel")).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		close(started)
		_, err := comm.Run(ctx, &provisioners.Cmd{Command: "sleep 120"})
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if d := time.Since(t0); d > 30*time.Second {
		t.Errorf("cancel took %s", d)
	}
}

// TestBuildAbortLeavesContainer: with -on-error=abort the container is
// left and reported with the command that removes it.
func TestBuildAbortLeavesContainer(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	cfg := testConfig()
	cfg.Discard = true
	opts := testOptions(runID, "abort")
	opts.OnError = builder.OnErrorAbort
	var left []string
	opts.Event = func(e builder.StepEvent) {
		if e.Phase == "left" {
			left = append(left, e.Detail)
		}
	}
	_, err := New(cfg, opts).Build(ctx, newUI(t), func(context.Context, provisioners.Communicator, provisioners.BuildInfo) error {
		return errors.New("boom")
	})
	if !errors.Is(err, builder.ErrAborted) {
		t.Fatalf("error = %v, want ErrAborted", err)
	}
	if len(left) != 1 || !strings.HasPrefix(left[0], "container ") || !strings.Contains(left[0], "(docker rm -f ") {
		t.Fatalf("left = %q", left)
	}
	id := strings.Fields(left[0])[1]
	if err := api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
		t.Errorf("the left container %s: %v", id, err)
	}
}

// TestBuildHostOptions: privileged, volumes, tmpfs, cap_add/cap_drop and
// devices reach the container.
func TestBuildHostOptions(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	hostDir := writeTree(t, map[string]string{"shared.txt": "from the host volume"})
	cfg := testConfig()
	cfg.Discard = true
	cfg.Volumes = map[string]string{hostDir: "/mnt/host"}
	cfg.Tmpfs = []string{"/scratch:size=1m"}
	cfg.CapDrop = []string{"CHOWN"}
	cfg.CapAdd = []string{"NET_ADMIN"}
	cfg.Devices = []string{"/dev/null:/dev/extra-null"}
	cfg.ContainerDir = "/var/lib/bake/files"
	_, err := New(cfg, testOptions(runID, "host")).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		if got := run(ctx, t, comm, "cat /mnt/host/shared.txt"); got != "from the host volume" {
			t.Errorf("volume: %q", got)
		}
		if got := run(ctx, t, comm, "grep ' /scratch ' /proc/mounts | cut -d' ' -f3"); got != "tmpfs" {
			t.Errorf("tmpfs: %q", got)
		}
		if code, _ := comm.Run(ctx, &provisioners.Cmd{Command: "touch /tmp/c && chown 1:1 /tmp/c"}); code == 0 {
			t.Errorf("chown worked without CAP_CHOWN")
		}
		run(ctx, t, comm, "test -c /dev/extra-null && test -d /var/lib/bake/files")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// asRoot returns a communicator into the same container that runs as
// root.
func asRoot(comm provisioners.Communicator) *execComm {
	c := comm.(*execComm)
	return &execComm{api: c.api, containerID: c.containerID, workdir: c.workdir}
}

// TestBuildParallel: two builds of one run proceed side by side.
func TestBuildParallel(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	errs := make(chan error, 2)
	for _, name := range []string{"left", "right"} {
		go func() {
			cfg := testConfig()
			cfg.Discard = true
			_, err := New(cfg, testOptions(runID, name)).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
				var out bytes.Buffer
				code, err := comm.Run(ctx, &provisioners.Cmd{Command: "sleep 1; echo " + info.Name, Stdout: &out})
				if err == nil && (code != 0 || strings.TrimSpace(out.String()) != "docker."+name) {
					err = fmt.Errorf("%s: exit %d, output %q", name, code, out.String())
				}
				return err
			})
			errs <- err
		}()
	}
	t0 := time.Now()
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("two builds took %s", d)
	}
}

// BenchmarkReferenceBuild is the reference build at the package
// level: 10 commands each writing a file, one directory of 10 × 100 KB
// files uploaded, commit.
func BenchmarkReferenceBuild(b *testing.B) {
	ctx := context.Background()
	api, err := connect(ctx, newEngineClient)
	if err != nil {
		b.Skip(err)
	}
	defer api.Close()
	dir := b.TempDir()
	for i := range 10 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), bytes.Repeat([]byte{'x'}, 100<<10), 0o644)
	}
	cfg := testConfig()
	cfg.Commit = true
	var runs, uploads time.Duration
	for i := 0; i < b.N; i++ {
		runID := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
		art, err := New(cfg, testOptions(runID, "bench")).Build(ctx, nopUI{}, func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
			t0 := time.Now()
			for n := range 10 {
				code, err := comm.Run(ctx, &provisioners.Cmd{Command: fmt.Sprintf("echo %d > /s%d", n, n)})
				if err != nil || code != 0 {
					return fmt.Errorf("run: %d %v", code, err)
				}
			}
			t1 := time.Now()
			runs += t1.Sub(t0)
			err := comm.UploadDir(ctx, "/srv", dir)
			uploads += time.Since(t1)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		api.ImageRemove(ctx, art.ID, image.RemoveOptions{Force: true})
	}
	b.ReportMetric(float64(runs.Microseconds())/float64(b.N*10)/1000, "ms/exec")
	b.ReportMetric(float64(uploads.Microseconds())/float64(b.N)/1000, "ms/upload")
}

type nopUI struct{}

func (nopUI) Say(string)        {}
func (nopUI) Error(string)      {}
func (nopUI) Stdout() io.Writer { return io.Discard }
func (nopUI) Stderr() io.Writer { return io.Discard }

// TestBuildCommitRemovesContainerFirst: the commit starts the container's
// removal at once (it overlaps the cache store and the shared-cache push),
// and Build still returns only once the container is gone.
func TestBuildCommitRemovesContainerFirst(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	cfg := testConfig()
	cfg.Commit = true
	opts := testOptions(runID, "early-removal")
	var events []string
	opts.Event = func(e builder.StepEvent) { events = append(events, e.Phase+" "+e.Step) }
	art, err := New(cfg, opts).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		return comm.Upload(ctx, "/etc/early", strings.NewReader("early\n"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, api, art.ID)
	// At once, not at the test's end: nothing of the run may remain.
	assertNoContainers(t, api, runID)
	if _, err := api.ImageInspect(ctx, art.ID); err != nil {
		t.Errorf("the committed image: %v", err)
	}
	if out := runImage(ctx, t, api, runID, art.ID, "cat", "/etc/early"); out != "early\n" {
		t.Errorf("the image's /etc/early = %q", out)
	}
	if !slices.Contains(events, "cleanup start container") {
		t.Errorf("no cleanup event for the container; events %q", events)
	}
}
