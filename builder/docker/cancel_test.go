package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/testutil/testenv"
	"github.com/bake-tool/bake/provisioners"
)

// racingAPI wraps the real engine client so that a Ctrl-C lands while one
// call is in flight: the engine receives the call and completes it, the
// build's context is cancelled before the answer arrives, and the client
// then reports what a client does when its context is done by then (the
// context's error), unless it was given a context that is still live. With
// lose set, the answer is lost whatever the context (a client that gave
// up waiting): only a sweep by label can find what the engine made.
type racingAPI struct {
	dockerAPI
	at     string // the call: "create", "commit"
	lose   bool
	cancel context.CancelFunc
	made   string // what the call made, when the test needs to know
}

// race runs call to completion at the engine, cancels the build, and
// returns what the client would.
func (r *racingAPI) race(ctx context.Context, name string, call func(context.Context) error) error {
	if name != r.at {
		return call(ctx)
	}
	err := call(context.WithoutCancel(ctx))
	r.cancel()
	if err != nil {
		return err
	}
	if r.lose {
		return errors.New("connection lost before the engine answered")
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

func (r *racingAPI) ContainerCreate(ctx context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, p *ocispec.Platform, name string) (container.CreateResponse, error) {
	var resp container.CreateResponse
	err := r.race(ctx, "create", func(ctx context.Context) (err error) {
		resp, err = r.dockerAPI.ContainerCreate(ctx, cfg, hc, nc, p, name)
		return err
	})
	if err != nil {
		return container.CreateResponse{}, err
	}
	return resp, nil
}

func (r *racingAPI) ContainerCommit(ctx context.Context, id string, opts container.CommitOptions) (container.CommitResponse, error) {
	var resp container.CommitResponse
	err := r.race(ctx, "commit", func(ctx context.Context) (err error) {
		resp, err = r.dockerAPI.ContainerCommit(ctx, id, opts)
		return err
	})
	if err != nil {
		return container.CommitResponse{}, err
	}
	return resp, nil
}

func (r *racingAPI) ImageTag(ctx context.Context, source, target string) error {
	return r.race(ctx, "tag", func(ctx context.Context) error {
		return r.dockerAPI.ImageTag(ctx, source, target)
	})
}

// ImagePush reads the whole progress stream inside the call, so that the
// push is complete at the registry when the cancel lands.
func (r *racingAPI) ImagePush(ctx context.Context, ref string, opts image.PushOptions) (io.ReadCloser, error) {
	var buf bytes.Buffer
	err := r.race(ctx, "push", func(ctx context.Context) error {
		rc, err := r.dockerAPI.ImagePush(ctx, ref, opts)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(&buf, rc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}

// ImageImport reads the whole progress stream inside the call, so that
// the image exists when the cancel lands; it records the image's id.
func (r *racingAPI) ImageImport(ctx context.Context, src image.ImportSource, ref string, opts image.ImportOptions) (io.ReadCloser, error) {
	var buf bytes.Buffer
	err := r.race(ctx, "import", func(ctx context.Context) error {
		rc, err := r.dockerAPI.ImageImport(ctx, src, ref, opts)
		if err != nil {
			return err
		}
		defer rc.Close()
		if _, err = io.Copy(&buf, rc); err != nil {
			return err
		}
		insp, err := r.dockerAPI.ImageInspect(ctx, ref)
		r.made = insp.ID
		return err
	})
	if err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}

// TestCancelDuringCreate: Ctrl-C while the engine creates the container or
// commits the image leaves neither behind, whether the answer arrives
// after the cancel or never.
func TestCancelDuringCreate(t *testing.T) {
	api := engine(t)
	for _, at := range []string{"create", "commit"} {
		for _, lose := range []bool{false, true} {
			name := at + "/answer after cancel"
			if lose {
				name = at + "/answer lost"
			}
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(testContext(t))
				defer cancel()
				runID := newRunID(t, api)
				cfg := testConfig()
				cfg.Commit = true
				b := New(cfg, testOptions(runID, "race"))
				b.newAPI = func() (dockerAPI, error) {
					real, err := newEngineClient()
					if err != nil {
						return nil, err
					}
					return &racingAPI{dockerAPI: real, at: at, lose: lose, cancel: cancel}, nil
				}
				art, err := b.Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
					run(ctx, t, comm, "touch /made-by-bake")
					return nil
				})
				if err == nil {
					removeImageAtEnd(t, api, art.ID)
					t.Fatal("the build succeeded after a cancel")
				}
				if !lose && !errors.Is(err, context.Canceled) {
					t.Errorf("error = %v, want context.Canceled", err)
				}
				t.Logf("error: %v", err)
				assertNoContainers(t, api, runID)
				for _, img := range listRunImages(context.Background(), t, api, runID) {
					t.Errorf("image %s labelled with the run id remains", short(img.ID))
					removeImageAtEnd(t, api, img.ID)
				}
			})
		}
	}
}

// TestRemoveKeepsUntaggedBase: removing a build's image (a failed build's
// cleanup, or the artifact's Destroy) leaves the base image alone, even
// when nothing names it and the engine would prune it as a parent.
func TestRemoveKeepsUntaggedBase(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)

	// An untagged base: a commit of a container of the usual base image.
	made, err := api.ContainerCreate(ctx, &container.Config{Image: testenv.BaseImage(), Labels: map[string]string{LabelRunID: runID}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := api.ContainerCommit(ctx, made.ID, container.CommitOptions{})
	api.ContainerRemove(ctx, made.ID, container.RemoveOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	base := committed.ID
	removeImageAtEnd(t, api, base)

	cfg := testConfig()
	cfg.Commit = true
	cfg.Image = base
	art, err := New(cfg, testOptions(runID, "untagged-base")).Build(ctx, newUI(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, api, art.ID)
	if err := art.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := api.ImageInspect(ctx, art.ID); err == nil {
		t.Errorf("the build's image %s remains after Destroy", short(art.ID))
	}
	if _, err := api.ImageInspect(ctx, base); err != nil {
		t.Errorf("the base image %s was removed with the build's image: %v", short(base), err)
	}
}

// imageIDOf returns the id of the image ref names, or "" when none.
func imageIDOf(ctx context.Context, t *testing.T, api dockerAPI, ref string) string {
	t.Helper()
	insp, err := api.ImageInspect(ctx, ref)
	if err != nil {
		return ""
	}
	return insp.ID
}

// TestTagGivesBackExistingTags: a docker-tag that moved an existing tag
// gives it back to the image it named when its artifact is removed, or
// when the post-processor is cancelled during a tag call; a tag it made
// is taken away again, and a tag already on the image stays.
func TestTagGivesBackExistingTags(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	art := buildImage(ctx, t, api, runID)
	base := imageIDOf(ctx, t, api, testenv.BaseImage())

	b := make([]byte, 4)
	rand.Read(b)
	repo := "bake.local/tag-test-" + hex.EncodeToString(b)
	// "prev" names the base image before the build, "same" already names
	// the built image, "new" names nothing.
	for ref, target := range map[string]string{repo + ":prev": base, repo + ":same": art.ID} {
		if err := api.ImageTag(ctx, target, ref); err != nil {
			t.Fatal(err)
		}
		removeImageAtEnd(t, api, ref)
	}
	removeImageAtEnd(t, api, repo+":new")
	check := func(t *testing.T, want map[string]string) {
		t.Helper()
		for ref, id := range want {
			if got := imageIDOf(ctx, t, api, ref); got != id {
				t.Errorf("%s names image %q, want %q", ref, short(got), short(id))
			}
		}
	}
	cfg := &TagConfig{Repository: repo, Tags: []string{"prev", "same", "new"}}

	t.Run("destroy", func(t *testing.T) {
		tagged, _, err := newPP(t, KindTag, cfg).PostProcess(ctx, newUI(t), art)
		if err != nil {
			t.Fatal(err)
		}
		check(t, map[string]string{repo + ":prev": art.ID, repo + ":same": art.ID, repo + ":new": art.ID})
		if err := tagged.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		check(t, map[string]string{repo + ":prev": base, repo + ":same": art.ID, repo + ":new": ""})
	})
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancel during a tag call, answer lost %v", lose), func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			pp := newPP(t, KindTag, cfg).(*TagPostProcessor)
			pp.newAPI = func() (dockerAPI, error) {
				real, err := newEngineClient()
				if err != nil {
					return nil, err
				}
				return &racingAPI{dockerAPI: real, at: "tag", lose: lose, cancel: cancel}, nil
			}
			if _, _, err := pp.PostProcess(ctx, newUI(t), art); err == nil {
				t.Fatal("PostProcess succeeded after a cancel")
			}
			check(t, map[string]string{repo + ":prev": base, repo + ":same": art.ID, repo + ":new": ""})
		})
	}
}

// TestCancelDuringPush: a push the build is cancelled during completes,
// and the error names what reached the registry.
func TestCancelDuringPush(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	art := buildImage(ctx, t, api, runID)
	repo := testenv.RegistryAddr() + "/bake-test/" + runID
	tagged, _, err := newPP(t, KindTag, &TagConfig{Repository: repo, Tags: []string{"v1", "v2"}}).PostProcess(ctx, newUI(t), art)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pp := newPP(t, KindPush, &PushConfig{}).(*PushPostProcessor)
	pp.newAPI = func() (dockerAPI, error) {
		real, err := newEngineClient()
		if err != nil {
			return nil, err
		}
		return &racingAPI{dockerAPI: real, at: "push", cancel: cancel}, nil
	}
	_, _, err = pp.PostProcess(pctx, newUI(t), tagged)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	_, uri, ok := strings.Cut(err.Error(), "left in the registry: ")
	if !ok || !strings.HasPrefix(uri, repo+"@sha256:") {
		t.Fatalf("error %q does not name the pushed digest", err)
	}
	if _, err := api.DistributionInspect(ctx, uri, ""); err != nil {
		t.Errorf("the registry has no %s: %v", uri, err)
	}
	if strings.Contains(err.Error(), "pushing "+repo+":v2") {
		t.Errorf("the push went on after the cancel: %v", err)
	}
}

// rootfsArtifact is an export_path artifact: a one-file tar.
func rootfsArtifact(t *testing.T) *artifacts.Artifact {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi\n"))
	tw.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &artifacts.Artifact{Builder: "docker", Build: "docker.import", ID: p, Files: []string{p},
		Items: []artifacts.Item{{ExternalIdentifier: p, Path: p, Format: "tar"}}}
}

// TestImportGivesBackTag: the tag docker-import puts on its image goes
// back to the image it named before when the imported image is removed,
// and when the import is cancelled, which removes the imported image.
func TestImportGivesBackTag(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	base := imageIDOf(ctx, t, api, testenv.BaseImage())
	b := make([]byte, 4)
	rand.Read(b)
	ref := "bake.local/import-test-" + hex.EncodeToString(b) + ":v1"
	if err := api.ImageTag(ctx, base, ref); err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, api, ref)
	in := rootfsArtifact(t)
	cfg := &ImportConfig{Repository: strings.Split(ref, ":")[0], Tag: "v1"}

	t.Run("destroy", func(t *testing.T) {
		imported, _, err := newPP(t, KindImport, cfg).PostProcess(ctx, newUI(t), in)
		if err != nil {
			t.Fatal(err)
		}
		removeImageAtEnd(t, api, imported.ID)
		if got := imageIDOf(ctx, t, api, ref); got != imported.ID {
			t.Fatalf("%s names %s, want the imported %s", ref, short(got), short(imported.ID))
		}
		if err := imported.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		if got := imageIDOf(ctx, t, api, ref); got != base {
			t.Errorf("after Destroy %s names %q, want the base image %s", ref, short(got), short(base))
		}
		if imageIDOf(ctx, t, api, imported.ID) != "" {
			t.Errorf("the imported image remains")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		pp := newPP(t, KindImport, cfg).(*ImportPostProcessor)
		racing := &racingAPI{at: "import", cancel: cancel}
		pp.newAPI = func() (dockerAPI, error) {
			real, err := newEngineClient()
			racing.dockerAPI = real
			return racing, err
		}
		if _, _, err := pp.PostProcess(ctx, newUI(t), in); err == nil {
			t.Fatal("PostProcess succeeded after a cancel")
		}
		if racing.made == "" {
			t.Fatal("the import made no image")
		}
		removeImageAtEnd(t, api, racing.made)
		if got := imageIDOf(context.Background(), t, api, ref); got != base {
			t.Errorf("%s names %q, want the base image %s", ref, short(got), short(base))
		}
		if imageIDOf(context.Background(), t, api, racing.made) != "" {
			t.Errorf("the imported image %s remains", short(racing.made))
		}
	})
}
