package docker

import (
	"context"
	"errors"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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
	made, err := api.ContainerCreate(ctx, &container.Config{Image: baseImage(), Labels: map[string]string{LabelRunID: runID}}, nil, nil, nil, "")
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
