package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/ui"
)

// LabelTest marks a container started for a build's test blocks, beside
// the run id and build labels that bake gc looks for.
const LabelTest = "dev.bake.test"

var _ builder.Tester = (*Builder)(nil)

// testState is what the test steps share.
type testState struct {
	ui          ui.UI
	api         dockerAPI
	img         image.InspectResponse
	containerID string
	comm        *execComm
}

// CanTest refuses a build that leaves no image to start (export_path,
// discard) or has no communicator to run the tests through.
func (b *Builder) CanTest() error {
	if !b.cfg.Commit {
		return errors.New("docker: tests start a container from the committed image: set commit = true (an export_path tar or a discarded container cannot be run)")
	}
	if b.cfg.Communicator == communicator.None {
		return errors.New(`docker: tests run through the communicator: communicator = "none" cannot run them`)
	}
	return nil
}

// Test starts a new container from the committed image, with the image's
// own ENTRYPOINT and CMD (so a test sees the image as it will run, and can
// check what its command does) and stdin held open, so that an image
// whose command is a shell stays up; it runs hook through the exec
// communicator and removes the container (force) on every path.
func (b *Builder) Test(ctx context.Context, ui ui.UI, art *artifacts.Artifact, hook builder.Hook) error {
	id := art.State["image_id"]
	if id == "" {
		return errors.New("docker: tests need an image to start: set commit = true (an export_path tar or a discarded container cannot be run)")
	}
	s := &testState{ui: ui}
	steps := []builder.Step[testState]{
		{Name: "connect to the Docker engine", Run: func(ctx context.Context, s *testState) error {
			api, err := connect(ctx, b.newAPI)
			s.api = api
			return err
		}, Cleanup: func(_ context.Context, s *testState) error {
			if s.api != nil {
				s.api.Close()
				s.api = nil
			}
			return nil
		}},
		{Name: "start test container", Run: func(ctx context.Context, s *testState) error { return b.startTestContainer(ctx, s, id) },
			Cleanup: b.removeTestContainer, Leftover: func(s *testState) string {
				if s.containerID == "" {
					return ""
				}
				return fmt.Sprintf("test container %s (docker rm -f %s)", s.containerID, s.containerID)
			}},
		{Name: "run tests", Run: func(ctx context.Context, s *testState) error { return hook(ctx, s.comm, b.info()) }},
	}
	return builder.RunSteps(ctx, builder.TestOptions(b.opts), ui, s, steps)
}

// startTestContainer creates and starts the test container from image id
// and waits until it runs.
func (b *Builder) startTestContainer(ctx context.Context, s *testState, id string) error {
	img, err := s.api.ImageInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspect image %s: %w", short(id), err)
	}
	s.img = img
	cfg := &container.Config{
		Image:     id,
		OpenStdin: true,
		Labels:    map[string]string{LabelRunID: b.opts.RunID, LabelBuild: b.name, LabelTest: "true"},
	}
	hc := &container.HostConfig{
		Privileged: b.cfg.Privileged,
		CapAdd:     b.cfg.CapAdd,
		CapDrop:    b.cfg.CapDrop,
		Runtime:    b.cfg.Runtime,
	}
	cctx, cancel := b.completing(ctx)
	created, err := s.api.ContainerCreate(cctx, cfg, hc, nil, nil, "")
	cancel()
	if err != nil {
		return fmt.Errorf("create test container from %s: %w", short(id), err)
	}
	s.containerID = created.ID
	if ctx.Err() != nil {
		return fmt.Errorf("created test container %s: %w", short(s.containerID), context.Cause(ctx))
	}
	if err := s.api.ContainerStart(ctx, s.containerID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start test container %s: %w", short(s.containerID), err)
	}
	insp, err := s.api.ContainerInspect(ctx, s.containerID)
	if err != nil {
		return fmt.Errorf("inspect test container %s: %w", short(s.containerID), err)
	}
	if insp.State != nil && !insp.State.Running {
		return fmt.Errorf("test container %s from %s stopped at once (exit status %d)%s: tests run in a running container, so the image's command must keep running",
			short(s.containerID), short(id), insp.State.ExitCode, b.logTail(ctx, s))
	}
	s.comm = b.execComm(s.api, s.containerID, img)
	s.ui.Say(fmt.Sprintf("started test container %s from %s", short(s.containerID), short(id)))
	return nil
}

// logTail returns ": its output: ..." with the last lines the stopped
// container wrote, or "" when there are none.
func (b *Builder) logTail(ctx context.Context, s *testState) string {
	rc, err := s.api.ContainerLogs(ctx, s.containerID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "5"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, io.LimitReader(rc, 4096)); err != nil && out.Len() == 0 {
		return ""
	}
	if t := strings.TrimSpace(out.String()); t != "" {
		return "; its output: " + t
	}
	return ""
}

// removeTestContainer removes the test container, and after a failure or
// cancel any other test container of the build (one whose create call
// finished after the step stopped waiting).
func (b *Builder) removeTestContainer(ctx context.Context, s *testState) error {
	var errs []error
	if s.containerID != "" {
		err := s.api.ContainerRemove(ctx, s.containerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove test container %s: %w", short(s.containerID), err)
		}
		s.ui.Say(fmt.Sprintf("removed test container %s", short(s.containerID)))
		s.containerID = ""
	}
	if !builder.Failed(ctx) || b.opts.RunID == "" {
		return nil
	}
	f := runFilter(b.opts.RunID, b.name)
	f.Add("label", LabelTest+"=true")
	list, err := s.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list the build's test containers: %w", err)
	}
	for _, c := range list {
		err := s.api.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove test container %s: %w", short(c.ID), err))
		}
	}
	return errors.Join(errs...)
}
