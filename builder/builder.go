package builder

import (
	"context"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/ui"
)

// Hook is called by a Builder once its machine is up and reachable: the
// engine runs the build's provisioners through it. info carries the
// machine's address and credentials. An error from Hook fails the build;
// the builder then runs its cleanups and returns the error.
type Hook func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error

// Builder brings a machine up from a base image, lets the engine provision
// it, and snapshots it into an Artifact.
//
// Contract: Build releases everything it created (containers, VMs,
// instances, keys, temporary files) before it returns, on success, on
// failure and when ctx is cancelled; cleanups run on a context detached from
// ctx with a deadline. A cancelled build returns an error wrapping
// context.Canceled. Build may return a nil artifact with a nil error when
// the template asked for none (docker discard, skip_create_ami).
type Builder interface {
	Build(ctx context.Context, ui ui.UI, hook Hook) (*artifacts.Artifact, error)
}
