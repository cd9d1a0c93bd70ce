package builder

import (
	"context"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/ui"
)

// Tester is the optional capability of a Builder that can start a fresh
// machine from an artifact it made, for the build's test blocks. The
// engine finds it by a type assertion on the Builder; a builder that is
// no Tester cannot run tests, and the build fails before it starts.
type Tester interface {
	// CanTest says why this build, as configured, cannot run tests (for
	// docker: no committed image; no communicator), or nil. The engine
	// asks before the build starts, so that no build is wasted.
	CanTest() error
	// Test starts a new machine from art (never the one that was
	// provisioned, and without modifying art: the artifact's digest is
	// the same after the test), calls hook once with a communicator to
	// it, and removes the machine, and everything made to start it,
	// before it returns: on success, when hook fails, when the machine
	// never answers and when ctx is cancelled; cleanups run on a context
	// detached from ctx with a deadline. Test returns hook's error as it
	// is (wrapped at most), so that the engine can tell a failed test from
	// a machine that did not start.
	Test(ctx context.Context, ui ui.UI, art *artifacts.Artifact, hook Hook) error
}

// TestOptions are the step options of a test machine: o, with the
// machine removed on every path (-on-error=abort, ask and -debug apply to
// the build's own machine, not to the test's).
func TestOptions(o Options) Options {
	o.OnError = OnErrorCleanup
	o.Ask, o.Pause = nil, nil
	return o
}
