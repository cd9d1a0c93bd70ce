package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dockerAPI is the subset of the Docker Engine client that this package
// uses; *client.Client implements it, and tests may fake exactly this.
type dockerAPI interface {
	DaemonHost() string
	Ping(ctx context.Context) (types.Ping, error)
	Close() error

	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageTag(ctx context.Context, source, target string) error
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ImageSave(ctx context.Context, imageIDs []string, opts ...client.ImageSaveOption) (io.ReadCloser, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error)
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	DistributionInspect(ctx context.Context, ref, encodedRegistryAuth string) (registry.DistributionInspect, error)

	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerCommit(ctx context.Context, containerID string, options container.CommitOptions) (container.CommitResponse, error)
	ContainerExport(ctx context.Context, containerID string) (io.ReadCloser, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)

	ContainerAttach(ctx context.Context, containerID string, options container.AttachOptions) (types.HijackedResponse, error)
	ContainerExecCreate(ctx context.Context, containerID string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, options container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)

	ContainerStatPath(ctx context.Context, containerID, path string) (container.PathStat, error)
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	CopyFromContainer(ctx context.Context, containerID, srcPath string) (io.ReadCloser, container.PathStat, error)
}

var _ dockerAPI = (*client.Client)(nil)

// newEngineClient returns a client for the engine named by the environment
// (DOCKER_HOST, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY, DOCKER_CONTEXT, ...;
// engine.go), negotiating the API version so that older engines (API 1.41)
// are spoken to in their own version.
func newEngineClient() (dockerAPI, error) {
	return (&EngineConfig{}).engineClient()()
}

// connect returns a client that has reached the engine, or an error that
// names the address it tried.
func connect(ctx context.Context, newAPI func() (dockerAPI, error)) (dockerAPI, error) {
	api, err := newAPI()
	if err != nil {
		return nil, err
	}
	if _, err := api.Ping(ctx); err != nil {
		host := api.DaemonHost()
		api.Close()
		return nil, &unreachableError{host: host, err: err}
	}
	return api, nil
}

// unreachableError says that the engine did not answer, naming its
// address; it wraps the client's error.
type unreachableError struct {
	host string
	err  error
}

func (e *unreachableError) Error() string {
	if !client.IsErrConnectionFailed(e.err) {
		return fmt.Sprintf("cannot reach the Docker engine at %s: %v", e.host, e.err)
	}
	// The client's own text repeats the address and drops the cause; for
	// a unix socket, say what is wrong with it.
	cause := "is dockerd running?"
	if sock, ok := strings.CutPrefix(e.host, "unix://"); ok {
		if _, err := os.Stat(sock); err != nil {
			cause = err.Error()
		}
	}
	return fmt.Sprintf("cannot reach the Docker engine at %s: %s (start dockerd, or point DOCKER_HOST at it)", e.host, cause)
}

func (e *unreachableError) Unwrap() error { return e.err }

// defaultGrace is how long a call that creates something may go on once
// the build is cancelled, when the build sets no cleanup timeout.
const defaultGrace = 5 * time.Minute

// completing returns the context for a call that creates something
// (create, commit, tag, push): it is not cancelled with ctx, so that a
// call the engine is carrying out completes and the build learns what it
// made, for its cleanup to remove; once ctx is done the call has grace
// more to finish. Cancelling parent (the engine's cleanup context, which a
// second interrupt cancels) stops it at once. The caller records the
// result, then honours ctx's cancellation.
func completing(ctx, parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.WithoutCancel(ctx)
	}
	if grace <= 0 {
		grace = defaultGrace
	}
	cctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(cctx, func() { t.Stop() })
	})
	return cctx, func() { stop(); cancel() }
}

// runFilter selects what a build labelled: the run's id and the build's
// name, so that a sweep never touches another build's containers or
// images, nor anything bake did not label.
func runFilter(runID, build string) filters.Args {
	return filters.NewArgs(filters.Arg("label", LabelRunID+"="+runID), filters.Arg("label", LabelBuild+"="+build))
}

// login is a registry login from the login* options.
type login struct {
	Enabled  bool
	Server   string
	Username string
	Password string
}

// authFor returns the encoded registry credentials to send with a pull or
// push of ref: empty without a login, or when login_server names another
// registry than ref's (credentials are never sent to a registry they were
// not given for).
func (l login) authFor(ref string) (string, error) {
	if !l.Enabled || (l.Username == "" && l.Password == "") {
		return "", nil
	}
	if l.Server != "" {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return "", fmt.Errorf("parse image reference %q: %w", ref, err)
		}
		if normalizeRegistry(l.Server) != normalizeRegistry(reference.Domain(named)) {
			return "", nil
		}
	}
	return registry.EncodeAuthConfig(registry.AuthConfig{
		Username:      l.Username,
		Password:      l.Password,
		ServerAddress: l.Server,
	})
}

// normalizeRegistry reduces a login server ("https://index.docker.io/v1/",
// "registry:5000/") to the host[:port] a reference's domain is compared to.
func normalizeRegistry(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	s = strings.ToLower(s)
	switch s {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return s
}

// progressMessage is one line of the engine's JSON progress stream (pull,
// push, import), with only the fields this package reads.
type progressMessage struct {
	Status      string `json:"status"`
	ID          string `json:"id"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Error string          `json:"error"`
	Aux   json.RawMessage `json:"aux"`
}

// readProgress reads an engine progress stream to its end. It calls each
// for every message, and returns the first error the engine reported in
// the stream (a pull or push that failed after it started).
func readProgress(r io.Reader, each func(progressMessage)) error {
	dec := json.NewDecoder(r)
	for {
		var m progressMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read engine progress: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		if each != nil {
			each(m)
		}
	}
}
