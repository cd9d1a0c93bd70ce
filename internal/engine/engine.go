package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/sbom"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/cache/share"
	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/provisioners"
)

// Job is one build of the run: one source of one build block, with its
// provisioners and post-processor chains ready to be made.
type Job struct {
	// Name is the build's "type.name" (the alias when the build block
	// names the source), unique within a run.
	Name string
	// Type is the source type ("docker", "null", ...).
	Type string
	// SourceName is the source's name, BuildName the build block's.
	SourceName string
	BuildName  string
	// NewBuilder makes the builder with the run's step options.
	NewBuilder func(opts builder.Options) (builder.Builder, error)
	// Provisioners run in order once the machine is up.
	Provisioners []*ProvisionerStep
	// ErrorCleanup, if set, runs when a provisioner fails.
	ErrorCleanup *ProvisionerStep
	// Tests are the build's test blocks, run in order on a fresh machine
	// the builder starts from its artifact (builder.Tester), before the
	// post-processors.
	Tests []*ProvisionerStep
	// PostProcessors are the post-processor chains, each run on the
	// builder's artifact.
	PostProcessors [][]*PostProcessorStep
}

// ProvisionerStep is one provisioner block as it applies to one build.
type ProvisionerStep struct {
	Type, Name  string
	PauseBefore time.Duration
	Timeout     time.Duration
	MaxRetries  int
	// NoCache is `cache = false`: the step, and every one after it, runs
	// even when the cache holds its result.
	NoCache bool
	// Test marks a test block: it is named "test ..." in output.
	Test bool
	// Make decodes the block with the build's values (build.Host, ...)
	// known and returns the provisioner.
	Make func(info provisioners.BuildInfo) (provisioners.Provisioner, error)
}

// Label is how the step is named in output: `shell "name"` or `shell`.
func (p *ProvisionerStep) Label() string {
	kind := "provisioner"
	if p.Test {
		kind = "test"
	}
	if p.Name != "" {
		return fmt.Sprintf("%s %s %q", kind, p.Type, p.Name)
	}
	return kind + " " + p.Type
}

// PostProcessorStep is one post-processor block as it applies to one build.
type PostProcessorStep struct {
	Type, Name string
	// KeepInput is keep_input_artifact.
	KeepInput bool
	Make      func(info provisioners.BuildInfo) (artifacts.PostProcessor, error)
}

// Label is how the step is named in output.
func (p *PostProcessorStep) Label() string {
	if p.Name != "" {
		return fmt.Sprintf("post-processor %s %q", p.Type, p.Name)
	}
	return "post-processor " + p.Type
}

// Build statuses.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Result is what became of one Job.
type Result struct {
	Name, Type, BuildName string
	Status                string
	Err                   error
	Started, Finished     time.Time
	// Artifacts are the artifacts the build ends with: the builder's (when
	// kept) and the last of each post-processor chain. A build whose
	// post-processor failed or was cancelled lists what it leaves in place:
	// the builder's artifact, the failed post-processor's input, and the
	// outputs of the chains that succeeded.
	Artifacts []*artifacts.Artifact
	// Left lists what -on-error=abort left in place.
	Left []string
	// Remaining lists the cleanups that failed (or were cut short by a
	// second interrupt), each naming what may remain.
	Remaining []string
	// Inventory is the machine's package inventory, read after the
	// provisioners (Options.Inventory); nil when none was taken.
	Inventory *sbom.Inventory
	// Steps says, when the build used the cache, which provisioner
	// steps ran and which were reused.
	Steps []cache.Record
	// Tests are the outcomes of the build's test blocks, in order; nil
	// when it has none or never got to them.
	Tests []artifacts.TestRecord
	// Untested is set when a test failed (or its machine did not start)
	// and the artifact was kept (Options.KeepFailedArtifacts).
	Untested bool
}

// Options are the run-wide settings of Run.
type Options struct {
	// RunID identifies the run (container labels, EC2 tags, file names).
	RunID string
	// Parallel is -parallel-builds; 0 means no limit.
	Parallel int
	// Force is -force.
	Force bool
	// OnError is -on-error.
	OnError builder.OnError
	// Ask answers -on-error=ask; Pause implements -debug. Both may be nil.
	Ask   func(ctx context.Context, build, step string, err error) builder.Decision
	Pause func(ctx context.Context, build, step string) error
	// DebugKey, when set (-debug), is called once a build's machine is up
	// and the build logs in with a temporary SSH key (a private and a
	// public key in its BuildInfo), to keep the key where the user can
	// use it; the release it returns is called once the builder has
	// returned, its cleanups done. It may be nil.
	DebugKey func(build string, info provisioners.BuildInfo) (release func())
	// Sink receives every event, already redacted.
	Sink Sink
	// Redactor redacts sensitive values from every event; nil redacts
	// nothing.
	Redactor *redact.Redactor
	// CleanupContext, if set, is the parent of every cleanup context (see
	// builder.Options.CleanupContext).
	CleanupContext context.Context
	// CleanupTimeout bounds each build's cleanups (default 5m).
	CleanupTimeout time.Duration
	// WaitNotice is how long a step runs before the engine reports it is
	// still waiting, and how often after that (default 15s).
	WaitNotice time.Duration
	// RetryDelay is the first pause between max_retries attempts (default
	// 1s, doubling up to 30s).
	RetryDelay time.Duration
	// Inventory reads each machine's package databases after the
	// provisioners, for the build's SBOM (Result.Inventory).
	Inventory bool
	// Cache is the build cache; nil means none (-no-cache).
	Cache *cache.Store
	// KeepFailedArtifacts (-keep-failed-artifacts) keeps an artifact
	// whose tests failed, marked untested, instead of removing it.
	KeepFailedArtifacts bool
	// SharedCache is the registry of -cache-from and -cache-to; nil
	// means none. Used only with Cache.
	SharedCache *share.Registry

	// clock times the still-running notices; nil is the real clock.
	clock clock
}

// clock is the time source of the still-running notices, so that a test
// can move time without waiting for it.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Run runs jobs, at most opts.Parallel at a time, and returns one Result
// per job in the jobs' order. One build failing does not stop the others;
// cancelling ctx stops builds from starting and cancels the running ones,
// which clean up before Run returns.
func Run(ctx context.Context, jobs []*Job, opts Options) []Result {
	if opts.Sink == nil {
		opts.Sink = func(Event) {}
	}
	sink := func(e Event) { opts.Sink(e.Redact(opts.Redactor)) }
	results := make([]Result, len(jobs))
	limit := opts.Parallel
	if limit <= 0 || limit > len(jobs) {
		limit = len(jobs)
	}
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i, job := range jobs {
		results[i] = Result{Name: job.Name, Type: job.Type, BuildName: job.BuildName}
		wg.Add(1)
		go func() {
			defer wg.Done()
			notStarted := func() {
				results[i].Status = StatusCancelled
				results[i].Err = fmt.Errorf("not started: %w", context.Cause(ctx))
				sink(Event{Time: time.Now(), Type: EventBuildFinished, Build: job.Name, Status: StatusCancelled,
					Error: opts.Redactor.String(results[i].Err.Error())})
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				notStarted()
				return
			}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				notStarted()
				return
			}
			results[i] = runJob(ctx, job, opts, sink)
		}()
	}
	wg.Wait()
	return results
}

// jobRun is the state of one running job.
type jobRun struct {
	job  *Job
	opts Options
	ui   *buildUI
	sink Sink

	mu        sync.Mutex
	step      string
	stepStart time.Time
	stepGen   int64 // counts setStep calls, telling apart runs of a step
	left      []string
	remaining []string
	cleanups  int
	inventory *sbom.Inventory
	cache     *cache.Build // nil without a cache
	tests     []artifacts.TestRecord
	untested  bool
}

func (r *jobRun) setStep(name string) {
	r.mu.Lock()
	r.step, r.stepStart = name, r.clock().Now()
	r.stepGen++
	r.mu.Unlock()
}

func (r *jobRun) clock() clock {
	if r.opts.clock != nil {
		return r.opts.clock
	}
	return realClock{}
}

func (r *jobRun) emit(e Event) {
	e.Time = time.Now()
	e.Build = r.job.Name
	r.sink(e)
}

func (r *jobRun) errText(err error) string { return r.opts.Redactor.String(err.Error()) }

func runJob(ctx context.Context, job *Job, opts Options, sink Sink) Result {
	res := Result{Name: job.Name, Type: job.Type, BuildName: job.BuildName, Started: time.Now()}
	r := &jobRun{job: job, opts: opts, sink: sink, ui: newBuildUI(job.Name, sink)}
	r.cache = r.newCacheBuild()
	r.emit(Event{Type: EventBuildStarted})

	stopWatch := r.watch()
	arts, err := r.run(ctx)
	stopWatch()
	r.ui.flush()

	res.Finished = time.Now()
	res.Artifacts = arts
	res.Left = r.left
	res.Remaining = r.remaining
	res.Inventory = r.inventory
	res.Steps = r.cache.Records()
	res.Tests, res.Untested = r.tests, r.untested
	res.Err = err
	switch {
	case err == nil:
		res.Status = StatusSucceeded
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		res.Status = StatusCancelled
	default:
		res.Status = StatusFailed
	}
	if res.Status == StatusCancelled {
		r.mu.Lock()
		n := r.cleanups
		r.mu.Unlock()
		r.emit(Event{Type: EventMessage, Message: fmt.Sprintf("cancelled: stopped running commands and ran %d cleanup step(s)", n)})
	}
	fin := Event{Type: EventBuildFinished, Status: res.Status, Elapsed: res.Finished.Sub(res.Started).Seconds()}
	if err != nil {
		fin.Error = r.errText(err)
	}
	r.emit(fin)
	return res
}

// watch reports a step still running WaitNotice after it started, and
// again every WaitNotice after that, so that long waits show their
// elapsed time.
//
// It sleeps until the current step's next notice is due, or for one
// interval when no step runs. A step that starts during a sleep is due
// no earlier than the sleep ends, so it is never reported late.
func (r *jobRun) watch() (stop func()) {
	every := r.opts.WaitNotice
	if every <= 0 {
		every = 15 * time.Second
	}
	done := make(chan struct{})
	clk := r.clock()
	go func() {
		var lastGen, lastN int64 // the step and notice last reported
		for {
			r.mu.Lock()
			step, since, gen := r.step, r.stepStart, r.stepGen
			r.mu.Unlock()
			wait := every
			if step != "" {
				el := clk.Now().Sub(since)
				n := int64(el / every) // notices due so far
				if n > 0 && (gen != lastGen || n > lastN) {
					lastGen, lastN = gen, n
					shown := el.Round(time.Second)
					r.emit(Event{Type: EventWaiting, Step: step, Elapsed: shown.Seconds(),
						Message: fmt.Sprintf("still running %s (%s elapsed)", step, shown)})
				}
				wait = time.Duration(n+1)*every - el
			}
			select {
			case <-done:
				return
			case <-clk.After(wait):
			}
		}
	}()
	return func() { close(done) }
}

func (r *jobRun) builderOptions() builder.Options {
	o := builder.Options{
		RunID:          r.opts.RunID,
		BuildID:        r.opts.RunID + "-" + r.job.Name,
		Name:           r.job.Name,
		Force:          r.opts.Force,
		OnError:        r.opts.OnError,
		CleanupTimeout: r.opts.CleanupTimeout,
		CleanupContext: r.opts.CleanupContext,
		Event:          r.stepEvent,
		Cache:          r.cache,
	}
	if r.cache != nil {
		o.SharedCache = r.opts.SharedCache
	}
	if r.opts.Ask != nil {
		o.Ask = func(ctx context.Context, step string, err error) builder.Decision {
			return r.opts.Ask(ctx, r.job.Name, step, err)
		}
	}
	if r.opts.Pause != nil {
		o.Pause = func(ctx context.Context, step string) error { return r.opts.Pause(ctx, r.job.Name, step) }
	}
	return o
}

func (r *jobRun) stepEvent(e builder.StepEvent) {
	ev := Event{Step: e.Step, Elapsed: e.Elapsed.Seconds(), Message: e.Detail}
	switch e.Phase {
	case "start":
		r.setStep(e.Step)
		ev.Type = EventStepStarted
	case "done":
		r.setStep("")
		ev.Type = EventStepFinished
	case "failed":
		r.setStep("")
		ev.Type = EventStepFailed
	case "cleanup":
		ev.Type = EventCleanup
		ev.Message = "cleaned up after " + e.Step
		r.mu.Lock()
		r.cleanups++
		r.mu.Unlock()
	case "cleanup-failed":
		ev.Type = EventCleanup
		ev.Message = "cleanup after " + e.Step + " failed"
		r.mu.Lock()
		r.remaining = append(r.remaining, e.Step+": "+r.errText(e.Err))
		r.mu.Unlock()
	case "left":
		ev.Type = EventLeft
		r.mu.Lock()
		r.left = append(r.left, e.Detail)
		r.mu.Unlock()
	default:
		ev.Type = EventMessage
	}
	if e.Err != nil {
		ev.Error = r.errText(e.Err)
	}
	if e.AfterFailure && ev.Type == EventCleanup {
		ev.Status = StatusFailed
	}
	r.emit(ev)
}

func (r *jobRun) run(ctx context.Context) ([]*artifacts.Artifact, error) {
	b, err := r.job.NewBuilder(r.builderOptions())
	if err != nil {
		return nil, fmt.Errorf("prepare builder: %w", err)
	}
	if len(r.job.Tests) > 0 {
		// Found now, not after the build: a builder that cannot start a
		// machine from what it makes.
		if err := canTest(b, r.job.Type); err != nil {
			return nil, err
		}
	}
	var info provisioners.BuildInfo
	var releaseKey func()
	hook := func(ctx context.Context, comm provisioners.Communicator, bi provisioners.BuildInfo) error {
		info = r.completeInfo(bi)
		if r.opts.DebugKey != nil && releaseKey == nil && info.SSHPrivateKey != "" && info.SSHPublicKey != "" {
			releaseKey = r.opts.DebugKey(r.job.Name, info)
		}
		if err := r.provision(ctx, comm, info); err != nil {
			return err
		}
		r.takeInventory(ctx, comm)
		return nil
	}
	art, err := b.Build(ctx, r.ui, hook)
	if releaseKey != nil {
		releaseKey()
	}
	if err != nil {
		return nil, err
	}
	r.cacheInventory()
	if info.Name == "" {
		info = r.baseInfo()
	}
	info.Force = r.opts.Force
	if art == nil {
		return nil, nil
	}
	if art.Build == "" {
		art.Build = r.job.Name
	}
	if len(r.job.Tests) > 0 {
		if err := r.test(ctx, b, art); err != nil {
			return r.failedTest(ctx, art, err)
		}
	}
	return r.postProcess(ctx, art, info)
}

// completeInfo fills in what the engine knows of the build and the
// builder may have left out.
func (r *jobRun) completeInfo(bi provisioners.BuildInfo) provisioners.BuildInfo {
	base := r.baseInfo()
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&bi.RunID, base.RunID}, {&bi.ID, base.ID}, {&bi.Name, base.Name}, {&bi.BuildName, base.BuildName},
		{&bi.Type, base.Type}, {&bi.SourceName, base.SourceName},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	return bi
}

func (r *jobRun) baseInfo() provisioners.BuildInfo {
	return provisioners.BuildInfo{RunID: r.opts.RunID, ID: r.opts.RunID + "-" + r.job.Name, Name: r.job.Name,
		BuildName: r.job.BuildName, Type: r.job.Type, SourceName: r.job.SourceName}
}

// provision runs the job's provisioners in order; on a failure it runs the
// error-cleanup-provisioner (unless -on-error=abort) and returns the error.
func (r *jobRun) provision(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
	from, after := r.cache.Resumed()
	for i, p := range r.job.Provisioners {
		if i < from {
			continue
		}
		err := r.runProvisioner(ctx, r.ui, comm, info, p)
		if err == nil {
			r.cache.Ran(i)
			err = r.afterStep(ctx, after, i)
		}
		if err != nil {
			if ec := r.job.ErrorCleanup; ec != nil && r.opts.OnError != builder.OnErrorAbort && ctx.Err() == nil {
				r.ui.Say(fmt.Sprintf("%s failed; running error-cleanup-provisioner %s", p.Label(), ec.Type))
				if cerr := r.runProvisioner(ctx, r.ui, comm, info, ec); cerr != nil {
					err = errors.Join(err, fmt.Errorf("error-cleanup-provisioner: %w", cerr))
				}
			}
			return err
		}
	}
	return nil
}

func (r *jobRun) runProvisioner(ctx context.Context, u *buildUI, comm provisioners.Communicator, info provisioners.BuildInfo, p *ProvisionerStep) error {
	label := p.Label()
	prov, err := p.Make(info)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	if p.PauseBefore > 0 {
		r.ui.Say(fmt.Sprintf("pausing %s before %s", p.PauseBefore, label))
		if err := sleep(ctx, p.PauseBefore); err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
	}
	delay := r.opts.RetryDelay
	if delay <= 0 {
		delay = time.Second
	}
	attempts := p.MaxRetries + 1
	var lastErr error
	for a := 1; a <= attempts; a++ {
		if a > 1 {
			r.ui.Say(fmt.Sprintf("%s failed (attempt %d of %d): %s; retrying in %s", label, a-1, attempts, r.errText(lastErr), delay))
			if err := sleep(ctx, delay); err != nil {
				return fmt.Errorf("%s: %w", label, err)
			}
			delay = min(delay*2, 30*time.Second)
		}
		r.stepEvent(builder.StepEvent{Step: label, Phase: "start"})
		t0 := time.Now()
		lastErr = r.provisionOnce(ctx, u, prov, comm, info, p)
		if lastErr == nil {
			r.stepEvent(builder.StepEvent{Step: label, Phase: "done", Elapsed: time.Since(t0)})
			return nil
		}
		r.stepEvent(builder.StepEvent{Step: label, Phase: "failed", Err: lastErr, Elapsed: time.Since(t0)})
		if ctx.Err() != nil {
			break
		}
	}
	if attempts > 1 {
		return fmt.Errorf("%s failed after %d attempts: %w", label, attempts, lastErr)
	}
	return fmt.Errorf("%s: %w", label, lastErr)
}

func (r *jobRun) provisionOnce(ctx context.Context, u *buildUI, prov provisioners.Provisioner, comm provisioners.Communicator, info provisioners.BuildInfo, p *ProvisionerStep) error {
	var timedOut error
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		timedOut = fmt.Errorf("timed out after %s (timeout)", p.Timeout)
		ctx, cancel = context.WithTimeoutCause(ctx, p.Timeout, timedOut)
		defer cancel()
	}
	err := prov.Provision(ctx, u, comm, info)
	u.flush()
	if err != nil && timedOut != nil && context.Cause(ctx) == timedOut && !errors.Is(err, timedOut) {
		// Say why the provisioner stopped: its own timeout.
		return fmt.Errorf("%w: %w", timedOut, err)
	}
	return err
}

// postProcess runs each chain on the builder's artifact and returns the
// artifacts the build ends with.
//
// When a post-processor fails (or is cancelled), nothing is removed, as
// in Packer: the builder's artifact stays, and so does the input of the
// failed post-processor. Both are returned, with the outputs of the
// chains that succeeded, beside the error, so that the run manifest and
// the summary list what the failed build leaves.
func (r *jobRun) postProcess(ctx context.Context, art *artifacts.Artifact, info provisioners.BuildInfo) ([]*artifacts.Artifact, error) {
	if len(r.job.PostProcessors) == 0 {
		r.emit(Event{Type: EventArtifact, Artifact: art, Message: art.String()})
		return []*artifacts.Artifact{art}, nil
	}
	keepBuilderArtifact := false
	var out []*artifacts.Artifact
	var errs []error
	for _, chain := range r.job.PostProcessors {
		cur := art
		for i, pp := range chain {
			label := pp.Label()
			p, err := pp.Make(info)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", label, err))
				out = appendRemaining(out, art, cur)
				cur = nil
				break
			}
			r.stepEvent(builder.StepEvent{Step: label, Phase: "start"})
			t0 := time.Now()
			next, forceKeep, err := p.PostProcess(ctx, r.ui, cur)
			r.ui.flush()
			if err != nil {
				r.stepEvent(builder.StepEvent{Step: label, Phase: "failed", Err: err, Elapsed: time.Since(t0)})
				errs = append(errs, fmt.Errorf("%s: %w", label, err))
				out = appendRemaining(out, art, cur)
				cur = nil
				break
			}
			r.stepEvent(builder.StepEvent{Step: label, Phase: "done", Elapsed: time.Since(t0)})
			keep := pp.KeepInput || forceKeep || next == cur
			if i == 0 && keep {
				keepBuilderArtifact = true
			}
			if !keep && i > 0 && cur.Destroy != nil {
				if err := cur.Destroy(context.WithoutCancel(ctx)); err != nil {
					r.ui.Error(fmt.Sprintf("remove intermediate artifact %s: %s", cur.ID, r.errText(err)))
				}
			} else if keep && i > 0 && next != cur {
				out = append(out, cur)
			}
			if next == nil {
				cur = nil
				break
			}
			if next.Build == "" {
				next.Build = r.job.Name
			}
			cur = next
		}
		if cur != nil && cur != art {
			out = append(out, cur)
		}
	}
	if keepBuilderArtifact || len(errs) > 0 {
		out = append([]*artifacts.Artifact{art}, out...)
	} else if art.Destroy != nil {
		if err := art.Destroy(context.WithoutCancel(ctx)); err != nil {
			r.ui.Error(fmt.Sprintf("remove builder artifact %s: %s", art.ID, r.errText(err)))
		}
	}
	for _, a := range out {
		r.emit(Event{Type: EventArtifact, Artifact: a, Message: a.String()})
	}
	return out, errors.Join(errs...)
}

// appendRemaining adds to out the input of a failed post-processor, which
// stays in place, unless it is the builder's artifact (listed on its own).
func appendRemaining(out []*artifacts.Artifact, builderArt, in *artifacts.Artifact) []*artifacts.Artifact {
	if in == nil || in == builderArt {
		return out
	}
	return append(out, in)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
