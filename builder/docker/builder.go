package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/strslice"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// Labels put on every container a build creates, so that one a crash left
// behind can be found: docker ps -a --filter label=dev.bake.run-id=RUN.
const (
	LabelRunID = "dev.bake.run-id"
	LabelBuild = "dev.bake.build"
)

// Media types of the artifact's items.
const (
	// MediaTypeImageConfig is the media type of what an image id digests.
	MediaTypeImageConfig = "application/vnd.docker.container.image.v1+json"
	// MediaTypeManifest is the media type of a pushed image's manifest
	// when the registry does not say otherwise.
	MediaTypeManifest = "application/vnd.docker.distribution.manifest.v2+json"
	// MediaTypeTar is the media type of an exported container file system.
	MediaTypeTar = "application/x-tar"
)

// keepAlive is the command the build container runs while the build
// execs into it: a plain shell loop works in any image that has /bin/sh,
// without a TTY or stdin.
var keepAlive = strslice.StrSlice{"/bin/sh", "-c", "while :; do sleep 3600; done"}

// Builder is the docker source: it runs a container from the base image,
// hands it to the provisioners through the exec communicator, and commits
// it to an image, exports its file system to a tar, or discards it.
type Builder struct {
	cfg  *Config
	opts builder.Options
	// name is the build's "type.name".
	name string
	// newAPI makes the engine client; tests may replace it.
	newAPI func() (dockerAPI, error)
}

var _ builder.Builder = (*Builder)(nil)

// New returns the builder for cfg, a Config that went through Prepare.
func New(cfg *Config, opts builder.Options) *Builder {
	name := opts.BuildName("docker")
	return &Builder{cfg: cfg, opts: opts, name: name, newAPI: cfg.EngineConfig.engineClient()}
}

// NewBuilder is the engine's constructor for the "docker" source type:
// cfg must be a prepared *Config.
func NewBuilder(cfg templates.Config, opts builder.Options) (builder.Builder, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("docker builder: config is %T, not *docker.Config", cfg)
	}
	return New(c, opts), nil
}

// state is what the build's steps share.
type state struct {
	ui          ui.UI
	api         dockerAPI
	base        image.InspectResponse
	containerID string
	comm        *execComm
	imageID     string // the committed image, until the build succeeds
	art         *artifacts.Artifact
	cache       cacheState
	// removed, when set, is closed once the removal of the container that
	// commit started has ended, with its error in removeErr.
	removed   chan struct{}
	removeErr error
}

// Build runs the steps: connect, pull (or find) the image, start the
// container, provision, then commit, export or discard. The container is
// removed on every path.
func (b *Builder) Build(ctx context.Context, ui ui.UI, hook builder.Hook) (*artifacts.Artifact, error) {
	s := &state{ui: ui}
	steps := []builder.Step[state]{
		{Name: "connect to the Docker engine", Run: b.connect, Cleanup: closeAPI},
		{Name: "pull image", Run: b.pull},
		{Name: "start container", Run: b.startContainer, Cleanup: b.removeContainer, Leftover: leftContainer},
		{Name: "provision", Run: func(ctx context.Context, s *state) error { return b.provision(ctx, s, hook) }, Cleanup: closeComm},
	}
	if !b.pullEnabled() {
		steps[1].Name = "find image"
	}
	if b.opts.Cache != nil {
		steps = slices.Insert(steps, 2, builder.Step[state]{Name: "look up the build cache", Run: b.cacheLookup})
	}
	if b.cfg.ExportPath != "" {
		steps = append([]builder.Step[state]{{Name: "check export path", Run: b.checkExportPath}}, steps...)
	}
	switch {
	case b.cfg.Commit:
		steps = append(steps, builder.Step[state]{Name: "commit container", Run: b.commit, Cleanup: b.removeFailedImage})
	case b.cfg.ExportPath != "":
		steps = append(steps, builder.Step[state]{Name: "export container", Run: b.export})
	}
	if b.opts.Cache != nil && b.opts.SharedCache.CanWrite() {
		steps = append(steps, builder.Step[state]{Name: "push to the shared cache", Run: b.pushShared})
	}
	if err := builder.RunSteps(ctx, b.opts, ui, s, steps); err != nil {
		return nil, err
	}
	return s.art, nil
}

func (b *Builder) pullEnabled() bool { return b.cfg.Pull == nil || *b.cfg.Pull }

func (b *Builder) connect(ctx context.Context, s *state) error {
	api, err := connect(ctx, b.newAPI)
	if err != nil {
		return err
	}
	s.api = api
	return nil
}

func closeAPI(_ context.Context, s *state) error {
	if s.api == nil {
		return nil
	}
	err := s.api.Close()
	s.api = nil
	return err
}

// pull pulls the image (pull = true) and inspects it locally.
func (b *Builder) pull(ctx context.Context, s *state) error {
	ref := b.cfg.Image
	if b.pullEnabled() {
		auth, err := b.cfg.login().authFor(ref)
		if err != nil {
			return err
		}
		s.ui.Say(fmt.Sprintf("pulling %s", ref))
		rc, err := s.api.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth, Platform: b.cfg.Platform})
		if err == nil {
			err = readProgress(rc, func(m progressMessage) {
				if strings.HasPrefix(m.Status, "Digest:") || strings.HasPrefix(m.Status, "Status:") {
					s.ui.Say(m.Status)
				}
			})
			rc.Close()
		}
		if err != nil {
			if _, ierr := s.api.ImageInspect(ctx, ref); ierr == nil && ctx.Err() == nil {
				return fmt.Errorf("pull image %q: %w (the image exists locally: set pull = false to use it)", ref, err)
			}
			return fmt.Errorf("pull image %q: %w", ref, err)
		}
	}
	insp, err := s.api.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("image %q does not exist locally (pull = false): %w", ref, err)
		}
		return fmt.Errorf("inspect image %q: %w", ref, err)
	}
	s.base = insp
	return nil
}

// startContainer creates and starts the build container.
func (b *Builder) startContainer(ctx context.Context, s *state) error {
	if s.cache.reused != nil {
		return nil
	}
	img := s.base.ID
	if s.cache.startImage != "" {
		img = s.cache.startImage
	}
	cfg := &container.Config{
		Image:      img,
		Entrypoint: keepAlive,
		Labels:     map[string]string{LabelRunID: b.opts.RunID, LabelBuild: b.name},
	}
	hc := &container.HostConfig{
		Privileged: b.cfg.Privileged,
		CapAdd:     b.cfg.CapAdd,
		CapDrop:    b.cfg.CapDrop,
		Runtime:    b.cfg.Runtime,
	}
	tag := ""
	if b.mainSession() {
		// The command session is the main process: no exec to start it.
		// Its output goes to bake over the attach, not to a log file.
		tag = newExecTag()
		cfg.Entrypoint = strslice.StrSlice{"/bin/sh", "-c", mainAgentScript(tag)}
		cfg.OpenStdin, cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr = true, true, true, true
		hc.LogConfig = container.LogConfig{Type: "none"}
	}
	for host, ctr := range b.cfg.Volumes {
		if strings.ContainsRune(host, '/') && !filepath.IsAbs(host) {
			abs, err := filepath.Abs(host)
			if err != nil {
				return fmt.Errorf("volume %q: %w", host, err)
			}
			host = abs
		}
		hc.Binds = append(hc.Binds, host+":"+ctr)
	}
	for _, d := range b.cfg.Devices {
		hc.Devices = append(hc.Devices, parseDevice(d))
	}
	if len(b.cfg.Tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range b.cfg.Tmpfs {
			p, opts, _ := strings.Cut(t, ":")
			hc.Tmpfs[p] = opts
		}
	}
	var platform *ocispec.Platform
	if b.cfg.Platform != "" {
		parts := strings.SplitN(b.cfg.Platform, "/", 3)
		platform = &ocispec.Platform{OS: parts[0]}
		if len(parts) > 1 {
			platform.Architecture = parts[1]
		}
		if len(parts) > 2 {
			platform.Variant = parts[2]
		}
	}
	cctx, cancel := b.completing(ctx)
	created, err := s.api.ContainerCreate(cctx, cfg, hc, nil, platform, "")
	cancel()
	if err != nil {
		return fmt.Errorf("create container from %s: %w", b.cfg.Image, err)
	}
	s.containerID = created.ID
	for _, w := range created.Warnings {
		s.ui.Error("docker: " + w)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("created container %s: %w", short(s.containerID), context.Cause(ctx))
	}
	s.comm = b.execComm(s.api, s.containerID, s.base)
	var main *session
	if tag != "" {
		// Without the attach the agent waits for input that never comes,
		// and the commands run in an exec session as with keepAlive.
		if main, err = attachSession(ctx, s.api, s.containerID, tag); err != nil {
			s.ui.Error(fmt.Sprintf("docker: attach to container %s: %s; starting the command session in an exec", short(s.containerID), err))
		}
	}
	if err := s.api.ContainerStart(ctx, s.containerID, container.StartOptions{}); err != nil {
		if main != nil {
			main.close()
		}
		return fmt.Errorf("start container %s: %w", short(s.containerID), err)
	}
	if main != nil {
		if err := main.waitReady(ctx); err == nil {
			s.comm.sess = main
		} else if ctx.Err() != nil {
			return fmt.Errorf("started container %s: %w", short(s.containerID), context.Cause(ctx))
		}
	}
	s.ui.Say(fmt.Sprintf("started container %s from %s", short(s.containerID), b.cfg.Image))
	return nil
}

// mainSession reports whether the build container's main process runs
// the command session (mainAgentScript), which saves the exec that starts
// it: when commands run as the image's user, which the main process runs
// as (an exec_user on the container would pass into the committed image).
func (b *Builder) mainSession() bool {
	return b.cfg.Communicator != communicator.None && b.cfg.ExecUser == ""
}

// startRemoval starts removing the container once the commit has made the
// image, so that the removal overlaps what the build still does (storing
// the image in the cache, pushing it to the shared cache); the "start
// container" cleanup waits for it, so the build still returns only once the
// container is gone. Only with -on-error=cleanup and without -debug: under
// the other policies a later failure keeps the container for the user, and
// -debug's pause after the commit shows it.
func (b *Builder) startRemoval(ctx context.Context, s *state) {
	if s.containerID == "" || (b.opts.OnError != "" && b.opts.OnError != builder.OnErrorCleanup) || b.opts.Pause != nil {
		return
	}
	// Like a cleanup: not cancelled with the build; a second interrupt
	// (the cleanup context) stops it.
	rctx, cancel := b.completing(ctx)
	done := make(chan struct{})
	s.removed = done
	api, id := s.api, s.containerID
	go func() {
		defer close(done)
		defer cancel()
		err := api.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			s.removeErr = fmt.Errorf("remove container %s: %w", short(id), err)
		}
	}()
}

// parseDevice reads "host[:container[:permissions]]".
func parseDevice(d string) container.DeviceMapping {
	parts := strings.SplitN(d, ":", 3)
	m := container.DeviceMapping{PathOnHost: parts[0], PathInContainer: parts[0], CgroupPermissions: "rwm"}
	if len(parts) > 1 && parts[1] != "" {
		m.PathInContainer = parts[1]
	}
	if len(parts) > 2 && parts[2] != "" {
		m.CgroupPermissions = parts[2]
	}
	return m
}

// completing is the context of a call that creates something; see
// completing in api.go.
func (b *Builder) completing(ctx context.Context) (context.Context, context.CancelFunc) {
	return completing(ctx, b.opts.CleanupContext, b.opts.CleanupTimeout)
}

// removeContainer removes the build's container and, after a failure or
// cancel, any other container labelled with the run id and the build's
// name: one a create call finished making after the build stopped waiting
// for its answer.
func (b *Builder) removeContainer(ctx context.Context, s *state) error {
	closeComm(ctx, s) // made with the container; provision's cleanup closes it when provision ran
	if s.removed != nil {
		select {
		case <-s.removed:
		case <-ctx.Done():
			return fmt.Errorf("remove container %s: %w", short(s.containerID), context.Cause(ctx))
		}
		s.removed = nil
		if s.removeErr == nil {
			s.containerID = ""
		}
	}
	if s.containerID != "" {
		err := s.api.ContainerRemove(ctx, s.containerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: %w", short(s.containerID), err)
		}
		s.containerID = ""
	}
	if !builder.Failed(ctx) || b.opts.RunID == "" {
		return nil
	}
	list, err := s.api.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter(b.opts.RunID, b.name)})
	if err != nil {
		return fmt.Errorf("list the build's containers: %w", err)
	}
	var errs []error
	for _, c := range list {
		err := s.api.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", short(c.ID), err))
		}
	}
	return errors.Join(errs...)
}

func leftContainer(s *state) string {
	if s.containerID == "" {
		return ""
	}
	return fmt.Sprintf("container %s (docker rm -f %s)", s.containerID, s.containerID)
}

// provision makes container_dir and the communicator, then calls the
// hook.
func (b *Builder) provision(ctx context.Context, s *state, hook builder.Hook) error {
	if s.cache.reused != nil {
		return nil
	}
	if dir := b.cfg.ContainerDir; dir != "" {
		if err := s.comm.mkdir(ctx, dir); err != nil {
			return fmt.Errorf("create container_dir %s: %w", dir, err)
		}
	}
	if hook == nil {
		return nil
	}
	if b.cfg.Communicator == communicator.None {
		return hook(ctx, nil, b.info())
	}
	return hook(ctx, s.comm, b.info())
}

// info is what the build tells its provisioners about itself.
func (b *Builder) info() provisioners.BuildInfo {
	info := b.opts.BuildInfo("docker")
	info.User = b.cfg.ExecUser
	return info
}

func closeComm(_ context.Context, s *state) error {
	if s.comm != nil {
		s.comm.Close()
		s.comm = nil
	}
	return nil
}

// commit commits the container with the template's changes, keeping the
// base image's CMD and ENTRYPOINT unless a change sets them.
func (b *Builder) commit(ctx context.Context, s *state) error {
	if e := s.cache.reused; e != nil {
		s.art = b.imageArtifact(s, e.Ref)
		s.art.Destroy = nil // the cache's image: bake cache prune removes it
		return nil
	}
	cctx, cancel := b.completing(ctx)
	resp, err := s.api.ContainerCommit(cctx, s.containerID, container.CommitOptions{
		Comment: b.cfg.Message,
		Author:  b.cfg.Author,
		Changes: b.cfg.Changes,
		Pause:   !s.comm.idle(ctx),
		Config:  commitConfig(s.base),
	})
	cancel()
	if err != nil {
		return fmt.Errorf("commit container %s: %w", short(s.containerID), err)
	}
	s.imageID = resp.ID
	if ctx.Err() != nil {
		return fmt.Errorf("committed image %s: %w", short(resp.ID), context.Cause(ctx))
	}
	s.ui.Say(fmt.Sprintf("committed image %s", resp.ID))
	b.startRemoval(ctx, s)
	s.art = b.imageArtifact(s, resp.ID)
	if err := b.storeFinal(ctx, s); err != nil {
		if ctx.Err() != nil {
			return err
		}
		s.ui.Error(fmt.Sprintf("cache: store image %s: %s", short(resp.ID), err))
	} else if s.cache.stored[s.cache.finalKey] {
		s.art.Destroy = nil // the cache's image now: bake cache prune removes it
	}
	return nil
}

// commitConfig is the configuration a commit starts from before the
// changes apply. The engine fills what it leaves empty from the
// container's own configuration, which runs the keep-alive entrypoint:
// so the base image's Cmd and Entrypoint are set here explicitly, an
// absent Entrypoint as an empty, non-nil list (which the engine keeps).
// The engine applies the changes with the Dockerfile parser of `docker
// commit --change`, and, like a Dockerfile, an ENTRYPOINT change clears
// the inherited CMD.
func commitConfig(base image.InspectResponse) *container.Config {
	cfg := &container.Config{Entrypoint: strslice.StrSlice{}}
	if base.Config == nil {
		return cfg
	}
	cfg.Cmd = base.Config.Cmd
	if len(base.Config.Entrypoint) > 0 {
		cfg.Entrypoint = base.Config.Entrypoint
	}
	return cfg
}

// removeFailedImage removes the committed image when the build failed
// or was cancelled during or after the commit, and any other image
// labelled with the run id and the build's name (one a commit call
// finished making after the build stopped waiting for its answer; a
// commit keeps the container's labels).
func (b *Builder) removeFailedImage(ctx context.Context, s *state) error {
	if !builder.Failed(ctx) {
		return nil
	}
	if s.imageID != "" {
		if err := removeOwnImage(ctx, s.api, s.imageID); err != nil {
			return err
		}
		s.imageID = ""
		s.art = nil
	}
	if b.opts.RunID == "" {
		return nil
	}
	list, err := s.api.ImageList(ctx, image.ListOptions{All: true, Filters: runFilter(b.opts.RunID, b.name)})
	if err != nil {
		return fmt.Errorf("list the build's images: %w", err)
	}
	var errs []error
	for _, img := range list {
		if slices.ContainsFunc(img.RepoTags, isCacheTag) {
			continue // a step's state the cache keeps, for the next build to resume from
		}
		errs = append(errs, removeOwnImage(ctx, s.api, img.ID))
	}
	return errors.Join(errs...)
}

// removeOwnImage removes an image the build made, with every tag it got.
// Its untagged parents are kept: the base image is not the build's, even
// when nothing names it.
func removeOwnImage(ctx context.Context, api dockerAPI, id string) error {
	if _, err := api.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: false}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", short(id), err)
	}
	return nil
}

func (b *Builder) parent(s *state) *artifacts.Parent {
	p := &artifacts.Parent{ImageID: s.base.ID, Ref: b.cfg.Image}
	p.ImageDigest = repoDigest(b.cfg.Image, s.base.RepoDigests)
	return p
}

// repoDigest picks, from an image's repo digests ("repo@sha256:..."),
// the digest for ref's repository, else the first one.
func repoDigest(ref string, digests []string) string {
	repo := ref
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	} else if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	for _, d := range digests {
		if r, dg, ok := strings.Cut(d, "@"); ok && r == repo {
			return dg
		}
	}
	if len(digests) > 0 {
		_, dg, _ := strings.Cut(digests[0], "@")
		return dg
	}
	return ""
}

func (b *Builder) imageArtifact(s *state, id string) *artifacts.Artifact {
	newAPI := b.newAPI
	return &artifacts.Artifact{
		Builder: "docker",
		Build:   b.name,
		ID:      id,
		Items: []artifacts.Item{{
			ExternalIdentifier: id,
			Digest:             id,
			MediaType:          MediaTypeImageConfig,
		}},
		Parent:  b.parent(s),
		State:   map[string]string{"image_id": id},
		Destroy: func(ctx context.Context) error { return destroyImage(ctx, newAPI, id) },
	}
}

// destroyImage removes an image the build made (the artifact's Destroy),
// through a client of its own.
func destroyImage(ctx context.Context, newAPI func() (dockerAPI, error), id string) error {
	api, err := connect(ctx, newAPI)
	if err != nil {
		return err
	}
	defer api.Close()
	return removeOwnImage(ctx, api, id)
}

// errExists is the error for an output file (export_path, docker-save's
// path) that exists without -force.
func errExists(what, p string) error {
	return fmt.Errorf("%s %s already exists: remove it or use -force", what, p)
}

// refuseExisting refuses an existing output file unless force, before the
// build spends any time on it; the atomic write itself refuses one that
// appeared since.
func refuseExisting(what, p string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Lstat(p); err == nil {
		return errExists(what, p)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// checkExportPath refuses an existing export_path unless -force.
func (b *Builder) checkExportPath(_ context.Context, _ *state) error {
	return refuseExisting("export_path", b.cfg.ExportPath, b.opts.Force)
}

// export streams the container's file system to export_path, written
// atomically, hashing it on the way. An existing file is replaced only
// with -force.
func (b *Builder) export(ctx context.Context, s *state) error {
	dst := b.cfg.ExportPath
	s.ui.Say(fmt.Sprintf("exporting container %s to %s", short(s.containerID), dst))
	rc, err := s.api.ContainerExport(ctx, s.containerID)
	if err != nil {
		return fmt.Errorf("export container %s: %w", short(s.containerID), err)
	}
	defer rc.Close()
	sum, size, err := writeFileAtomic(dst, rc, b.opts.Force)
	if errors.Is(err, fs.ErrExist) {
		return errExists("export_path", dst)
	}
	if err != nil {
		return fmt.Errorf("export container %s: %w", short(s.containerID), err)
	}
	abs, err := filepath.Abs(dst)
	if err != nil {
		abs = dst
	}
	s.art = &artifacts.Artifact{
		Builder: "docker",
		Build:   b.name,
		ID:      dst,
		Files:   []string{abs},
		Items: []artifacts.Item{{
			ExternalIdentifier: dst,
			Digest:             sum,
			Size:               size,
			Format:             "tar",
			MediaType:          MediaTypeTar,
			Path:               abs,
		}},
		Parent:  b.parent(s),
		State:   map[string]string{"export_path": abs},
		Destroy: func(context.Context) error { return removeFile(abs) },
	}
	return nil
}

// writeFileAtomic writes r to path through a temporary file in the same
// directory moved into place, and returns the content's "sha256:<hex>"
// digest and size. A reader of path never sees a partial file. An
// existing path is replaced only when replace is set; otherwise the error
// wraps fs.ErrExist and path is left as it was.
func writeFileAtomic(dst string, r io.Reader, replace bool) (digest string, size int64, err error) {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		return "", 0, err
	}
	if err = f.Sync(); err != nil {
		return "", 0, err
	}
	if err = f.Chmod(0o644); err != nil {
		return "", 0, err
	}
	if err = f.Close(); err != nil {
		return "", 0, err
	}
	if replace {
		err = os.Rename(f.Name(), dst)
	} else if err = os.Link(f.Name(), dst); err == nil {
		// The link made dst without replacing anything; the temporary
		// name goes.
		os.Remove(f.Name())
	}
	if err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), size, nil
}

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// short is the 12-character form of an id, as docker prints it.
func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// containerPath resolves p against dir the way the container sees it.
func containerPath(dir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(dir, p)
}

// execComm is the communicator into container id, started from img: it
// runs as exec_user, else the image's USER, in the image's WORKDIR.
func (b *Builder) execComm(api dockerAPI, id string, img image.InspectResponse) *execComm {
	workdir, imageUser := "/", ""
	if img.Config != nil {
		if img.Config.WorkingDir != "" {
			workdir = img.Config.WorkingDir
		}
		imageUser = img.Config.User
	}
	return &execComm{
		api:         api,
		containerID: id,
		user:        b.cfg.ExecUser,
		fixOwner:    b.cfg.FixUploadOwner == nil || *b.cfg.FixUploadOwner,
		workdir:     workdir,
		imageUser:   imageUser,
	}
}
