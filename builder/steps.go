package builder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/cache/share"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/ui"
)

// Step is one stage of a builder, over the builder's own state struct S
// (habit: typed state, never a map). Run creates something and records its
// id in S; Cleanup removes what S records and clears it, so that calling
// it twice is harmless.
type Step[S any] struct {
	// Name is shown in progress output and events ("create container").
	Name string
	// Run does the step's work. It must record in S anything it created
	// before returning, even when it then fails, so Cleanup can remove it.
	Run func(ctx context.Context, s *S) error
	// Cleanup undoes Run. It runs, in reverse order, for every step whose
	// Run was started, including the one that failed, on a context that is
	// not cancelled with the build. It may be nil.
	Cleanup func(ctx context.Context, s *S) error
	// Leftover describes, for -on-error=abort, what this step created and
	// is being left behind, with the command that removes it; "" when
	// nothing. It may be nil.
	Leftover func(s *S) string
	// Skip, when set and true as the step comes up, passes over the step:
	// it neither runs nor reports progress (a build the cache reused
	// whole skips booting a machine). It may be nil.
	Skip func(s *S) bool
}

// OnError says what a build does with what it created when it fails.
type OnError string

// The -on-error policies.
const (
	OnErrorCleanup     OnError = "cleanup"                 // remove everything (default)
	OnErrorAbort       OnError = "abort"                   // leave everything, say what and how to remove it
	OnErrorAsk         OnError = "ask"                     // ask on the terminal: clean up, abort or retry
	OnErrorCleanupProv OnError = "run-cleanup-provisioner" // run error-cleanup-provisioner, then abort
)

// Decision is an answer to Options.Ask.
type Decision int

// Answers to the -on-error=ask prompt.
const (
	DecideCleanup Decision = iota
	DecideAbort
	DecideRetry
)

// StepEvent reports a step's progress to the engine.
type StepEvent struct {
	Step    string
	Phase   string // "start", "done", "failed", "cleanup", "cleanup-failed", "left"
	Err     error
	Elapsed time.Duration
	Detail  string // for "left": what remains and how to remove it
	// AfterFailure marks cleanup events of a build that failed or was
	// cancelled, which the user wants to see; routine cleanups after a
	// success are not worth a line of output.
	AfterFailure bool
}

// Options are the run-wide settings every builder's step runner follows.
// The zero value cleans up on error with a five-minute cleanup deadline.
type Options struct {
	// RunID identifies the bake run; builders put it on everything they
	// create (labels, tags, names).
	RunID string
	// BuildID identifies this build within the run.
	BuildID string
	// Name is the build's "type.name" as output shows it.
	Name string
	// Force asks builders to replace existing outputs (-force).
	Force bool
	// OnError is the -on-error policy.
	OnError OnError
	// Ask is called for OnErrorAsk; nil means clean up.
	Ask func(ctx context.Context, step string, err error) Decision
	// Pause, when set (-debug), is called after each step succeeds.
	Pause func(ctx context.Context, step string) error
	// Event, when set, receives each step's progress.
	Event func(StepEvent)
	// CleanupTimeout bounds all cleanups of a build (default 5m).
	CleanupTimeout time.Duration
	// CleanupContext, when set, is the parent of the cleanup context in
	// place of context.WithoutCancel(ctx); the engine cancels it on a
	// second interrupt so that cleanups stop waiting and do what they can.
	CleanupContext context.Context
	// Cache is the build's view of the build cache; nil when the run
	// uses none (-no-cache). See package cache.
	Cache *cache.Build
	// SharedCache is the registry entries are also read from
	// (-cache-from) and written to (-cache-to); nil for none. It is set
	// only with Cache. See package cache/share.
	SharedCache *share.Registry
}

// BuildName returns the build's "type.name": Name, else what BuildID
// holds after the run id, else kind.
func (o Options) BuildName(kind string) string {
	if o.Name != "" {
		return o.Name
	}
	if n := strings.TrimPrefix(o.BuildID, o.RunID+"-"); n != "" {
		return n
	}
	return kind
}

// BuildInfo returns what every build tells its provisioners about itself,
// whatever its kind: run and build ids, "type.name", type and source
// name. Builders add the machine's address and credentials.
func (o Options) BuildInfo(kind string) provisioners.BuildInfo {
	info := provisioners.BuildInfo{
		RunID: o.RunID,
		ID:    o.BuildID,
		Name:  o.BuildName(kind),
		Type:  kind,
	}
	if t, n, ok := strings.Cut(info.Name, "."); ok && t == kind {
		info.SourceName = n
	}
	return info
}

// ErrAborted is joined to a build's error when -on-error=abort (or the ask
// prompt) left resources behind.
var ErrAborted = errors.New("left resources in place (-on-error=abort)")

// RunSteps runs steps in order over state. When one fails (or ctx is
// cancelled) the cleanups of every started step run in reverse on a
// detached context with a deadline, and their errors are joined to the
// step's. On success the cleanups run too, in reverse: a builder's steps
// remove their temporary resources (containers, keys) once the artifact
// exists.
func RunSteps[S any](ctx context.Context, opts Options, ui ui.UI, state *S, steps []Step[S]) error {
	emit := func(e StepEvent) {
		if opts.Event != nil {
			opts.Event(e)
		}
	}
	started := 0
	var skipped map[int]bool
	// begun is the steps that were started (not skipped), in order.
	begun := func() []Step[S] {
		out := make([]Step[S], 0, started)
		for i, st := range steps[:started] {
			if !skipped[i] {
				out = append(out, st)
			}
		}
		return out
	}
	var runErr error
steps:
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		if err := ctx.Err(); err != nil {
			runErr = fmt.Errorf("cancelled before %s: %w", st.Name, context.Cause(ctx))
			break
		}
		if st.Skip != nil && st.Skip(state) {
			if skipped == nil {
				skipped = map[int]bool{}
			}
			skipped[i] = true
			continue
		}
		if i >= started {
			started = i + 1
		}
		t0 := time.Now()
		emit(StepEvent{Step: st.Name, Phase: "start"})
		err := st.Run(ctx, state)
		if err == nil {
			emit(StepEvent{Step: st.Name, Phase: "done", Elapsed: time.Since(t0)})
			if opts.Pause != nil {
				if perr := opts.Pause(ctx, st.Name); perr != nil {
					runErr = perr
					break
				}
			}
			continue
		}
		emit(StepEvent{Step: st.Name, Phase: "failed", Err: err, Elapsed: time.Since(t0)})
		runErr = fmt.Errorf("%s: %w", st.Name, err)
		if ctx.Err() != nil {
			break
		}
		switch opts.OnError {
		case OnErrorAbort, OnErrorCleanupProv:
			return errors.Join(runErr, leave(begun(), state, emit))
		case OnErrorAsk:
			if opts.Ask == nil {
				break steps
			}
			switch opts.Ask(ctx, st.Name, err) {
			case DecideRetry:
				// Undo the failed attempt before running the step again.
				if cerr := cleanup(ctx, opts, steps[i:i+1], state, emit, runErr); cerr != nil {
					runErr = errors.Join(runErr, cerr)
					break steps
				}
				runErr = nil
				i--
				continue
			case DecideAbort:
				return errors.Join(runErr, leave(begun(), state, emit))
			}
		}
		break
	}
	return errors.Join(runErr, cleanup(ctx, opts, begun(), state, emit, runErr))
}

func leave[S any](steps []Step[S], state *S, emit func(StepEvent)) error {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].Leftover == nil {
			continue
		}
		if d := steps[i].Leftover(state); d != "" {
			emit(StepEvent{Step: steps[i].Name, Phase: "left", Detail: d})
		}
	}
	return ErrAborted
}

type failedKey struct{}

// Failed reports, inside a Cleanup, whether the build failed or was
// cancelled: a step that produced the artifact (a committed image, an AMI)
// removes it only then.
func Failed(ctx context.Context) bool {
	err, _ := ctx.Value(failedKey{}).(error)
	return err != nil
}

func cleanup[S any](ctx context.Context, opts Options, steps []Step[S], state *S, emit func(StepEvent), runErr error) error {
	parent := opts.CleanupContext
	if parent == nil {
		parent = context.WithoutCancel(ctx)
	}
	timeout := opts.CleanupTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	if runErr != nil {
		parent = context.WithValue(parent, failedKey{}, runErr)
	}
	cctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		st := steps[i]
		if st.Cleanup == nil {
			continue
		}
		t0 := time.Now()
		if err := st.Cleanup(cctx, state); err != nil {
			emit(StepEvent{Step: st.Name, Phase: "cleanup-failed", Err: err, Elapsed: time.Since(t0), AfterFailure: runErr != nil})
			errs = append(errs, fmt.Errorf("clean up after %s: %w", st.Name, err))
			continue
		}
		emit(StepEvent{Step: st.Name, Phase: "cleanup", Elapsed: time.Since(t0), AfterFailure: runErr != nil})
	}
	return errors.Join(errs...)
}
