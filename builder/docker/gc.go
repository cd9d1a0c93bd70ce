package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/bake-tool/bake/internal/gc"
)

// gcAPI is the subset of the Docker Engine client that the Finder uses.
type gcAPI interface {
	DaemonHost() string
	Ping(ctx context.Context) (types.Ping, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)
}

var _ gcAPI = (*client.Client)(nil)

// Finder finds what docker builds left behind: containers and images
// labelled dev.bake.run-id. A container is always a leftover (a build
// removes its container on every path but -on-error=abort); an image is
// the artifact of a successful build as often as a leftover, so it is
// marked gc.Artifact and goes only with a run that crashed.
type Finder struct {
	newAPI func() (gcAPI, error)
	api    gcAPI
}

var _ gc.Finder = (*Finder)(nil)

// NewFinder returns the finder for the engine the Docker environment
// names (DOCKER_HOST, ...).
func NewFinder() *Finder {
	return &Finder{newAPI: func() (gcAPI, error) {
		c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, fmt.Errorf("docker client from the environment (DOCKER_HOST): %w", err)
		}
		return c, nil
	}}
}

// Name implements gc.Finder.
func (*Finder) Name() string { return "docker" }

// connect reaches the engine once. No engine at the default socket is
// gc.ErrUnavailable (nothing docker ran here); an engine that DOCKER_HOST
// names and that does not answer is an error.
func (f *Finder) connect(ctx context.Context) (gcAPI, error) {
	if f.api != nil {
		return f.api, nil
	}
	api, err := f.newAPI()
	if err != nil {
		return nil, err
	}
	if _, err := api.Ping(ctx); err != nil {
		host := api.DaemonHost()
		if sock, ok := strings.CutPrefix(host, "unix://"); ok && os.Getenv("DOCKER_HOST") == "" {
			if _, serr := os.Stat(sock); errors.Is(serr, os.ErrNotExist) {
				return nil, fmt.Errorf("no Docker engine at %s: %w", host, gc.ErrUnavailable)
			}
		}
		return nil, &unreachableError{host: host, err: err}
	}
	f.api = api
	return api, nil
}

// Find implements gc.Finder: containers first, so that they go before
// the images.
func (f *Finder) Find(ctx context.Context, flt gc.Filter) ([]gc.Leftover, error) {
	api, err := f.connect(ctx)
	if err != nil {
		return nil, err
	}
	label := LabelRunID
	if flt.RunID != "" {
		label += "=" + flt.RunID
	}
	args := filters.NewArgs(filters.Arg("label", label))
	cs, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []gc.Leftover
	for _, c := range cs {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, gc.Leftover{
			Kind: "docker container", ID: c.ID, RunID: c.Labels[LabelRunID], Build: c.Labels[LabelBuild],
			Created: time.Unix(c.Created, 0), Detail: strings.TrimSpace(name + " " + c.State),
		})
	}
	imgs, err := api.ImageList(ctx, image.ListOptions{All: true, Filters: args})
	if err != nil {
		return out, fmt.Errorf("list images: %w", err)
	}
	for _, img := range imgs {
		out = append(out, gc.Leftover{
			Kind: "docker image", ID: img.ID, RunID: img.Labels[LabelRunID], Build: img.Labels[LabelBuild],
			Created: time.Unix(img.Created, 0), Detail: strings.Join(img.RepoTags, " "), Artifact: true,
		})
	}
	return out, nil
}

// Remove implements gc.Finder: a container is removed by force with its
// anonymous volumes; an image with all its tags.
func (f *Finder) Remove(ctx context.Context, l gc.Leftover) error {
	api, err := f.connect(ctx)
	if err != nil {
		return err
	}
	switch l.Kind {
	case "docker container":
		err = api.ContainerRemove(ctx, l.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	case "docker image":
		_, err = api.ImageRemove(ctx, l.ID, image.RemoveOptions{Force: true, PruneChildren: true})
	default:
		return fmt.Errorf("not a docker leftover: %s", l.Kind)
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", l, err)
	}
	return nil
}
