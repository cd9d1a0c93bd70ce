package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bake-tool/bake/artifacts/registry"
	"github.com/bake-tool/bake/templates"
)

// RunnerOptions configure a Runner.
type RunnerOptions struct {
	// Bake is the bake binary each run executes (`bake build -json`).
	Bake string
	// Env is the children's environment; nil means os.Environ().
	Env []string
	// KillGrace is how long a cancelled or timed-out child has to clean up
	// after SIGINT before it is killed (default 5m).
	KillGrace time.Duration
	Logger    *slog.Logger
	Notifier  *Notifier
	Metrics   *Metrics
	// Registry are the options publish, promote and the channel API open
	// repositories with.
	Registry registry.Options
	// PublishAttempts is how many times a run's publish is tried before
	// the run fails (default 4); PublishBackoff is the wait after the
	// first failed attempt, doubled after each (default 2s).
	PublishAttempts int
	PublishBackoff  time.Duration
	// MinFree is the free space (bytes) a run's working directory's file
	// system needs for the run to start (default 16 MiB).
	MinFree uint64
	// StoreRetry is how long a run's end is retried when the database's
	// disk is full (default 5m).
	StoreRetry time.Duration
}

// Runner queues runs and executes them as child processes within the
// global (server max_concurrent_runs) and per-pipeline (concurrency)
// limits. Queued runs start in the order they were made.
type Runner struct {
	cfg   *Config
	store *Store
	hub   *Hub
	opts  RunnerOptions

	mu       sync.Mutex
	queue    []*Run
	active   map[int64]*activeRun
	draining bool
	wake     chan struct{}
	wg       sync.WaitGroup
}

type activeRun struct {
	run      *Run
	cmd      *exec.Cmd
	mu       sync.Mutex
	reason   string // why the server stopped it: "cancelled", "timeout", "shutdown", "disk"
	signaled bool
	storeErr string        // the database's disk-full error that stopped it
	stopped  chan struct{} // closed when the server stops it
}

// NewRunner returns a Runner for cfg's pipelines.
func NewRunner(cfg *Config, store *Store, hub *Hub, o RunnerOptions) *Runner {
	if o.KillGrace == 0 {
		o.KillGrace = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.StoreRetry == 0 {
		o.StoreRetry = 5 * time.Minute
	}
	if o.MinFree == 0 {
		o.MinFree = 16 << 20
	}
	if o.PublishAttempts <= 0 {
		o.PublishAttempts = 4
	}
	if o.PublishBackoff <= 0 {
		o.PublishBackoff = 2 * time.Second
	}
	return &Runner{cfg: cfg, store: store, hub: hub, opts: o, active: map[int64]*activeRun{}, wake: make(chan struct{}, 1)}
}

// ErrDraining is returned by Trigger once the server is shutting down.
var ErrDraining = errors.New("the server is shutting down: no new runs")

// ErrUnknownPipeline is returned by Trigger for a pipeline not in the
// configuration.
var ErrUnknownPipeline = errors.New("no such pipeline")

// Trigger queues a run of pipeline.
func (r *Runner) Trigger(ctx context.Context, pipeline, trigger string) (*Run, error) {
	if r.cfg.Pipeline(pipeline) == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPipeline, pipeline)
	}
	r.mu.Lock()
	draining := r.draining
	r.mu.Unlock()
	if draining {
		return nil, ErrDraining
	}
	run, err := r.store.CreateRun(ctx, pipeline, trigger)
	if err != nil {
		return nil, fmt.Errorf("queue run: %w", err)
	}
	r.mu.Lock()
	r.queue = append(r.queue, run)
	r.mu.Unlock()
	r.statusChanged(run)
	r.poke()
	return run, nil
}

// Cancel stops run id: a queued run is dropped from the queue, a running
// one gets SIGINT and cleans up as on Ctrl-C. It reports whether the run
// was still going.
func (r *Runner) Cancel(ctx context.Context, id int64) (bool, error) {
	r.mu.Lock()
	for i, q := range r.queue {
		if q.ID == id {
			r.queue = append(r.queue[:i:i], r.queue[i+1:]...)
			r.mu.Unlock()
			ok, err := r.store.CancelQueued(ctx, id)
			if ok {
				r.publishRun(ctx, id)
			}
			return ok, err
		}
	}
	a := r.active[id]
	r.mu.Unlock()
	if a == nil {
		return false, nil
	}
	a.stop("cancelled", r.opts.KillGrace)
	return true, nil
}

// CancelAll cancels every running run (SIGINT to each child).
func (r *Runner) CancelAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.active {
		a.stop("shutdown", r.opts.KillGrace)
	}
}

// QueueDepth returns how many runs wait for a slot.
func (r *Runner) QueueDepth() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// Running returns how many runs are going.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.active)
}

func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Recover is called once at start-up: runs the store shows running (their
// server died under them) are marked interrupted and what they created is
// removed by their bake run id (`bake gc -run-id`); queued runs go back in
// the queue.
func (r *Runner) Recover(ctx context.Context) error {
	lost, err := r.store.RunsWithStatus(ctx, StatusRunning)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	for _, run := range lost {
		msg := "the server stopped while this run was going"
		if err := r.store.FinishRun(ctx, run.ID, StatusInterrupted, nil, msg, "", ""); err != nil {
			return fmt.Errorf("recover run %d: %w", run.ID, err)
		}
		r.serverEvent(ctx, run.ID, "interrupted", msg)
		if run.BakeRunID != "" {
			out, err := r.gc(ctx, run.BakeRunID)
			text := "bake gc -run-id " + run.BakeRunID + ":\n" + out
			if err != nil {
				text += "\n" + err.Error()
			}
			r.serverEvent(ctx, run.ID, "gc", text)
		}
		r.opts.Logger.Info("run interrupted", "run", run.ID, "pipeline", run.Pipeline)
		if r.opts.Metrics != nil {
			r.opts.Metrics.RunFinished(run.Pipeline, StatusInterrupted, 0)
		}
	}
	queued, err := r.store.RunsWithStatus(ctx, StatusQueued)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	r.mu.Lock()
	for _, run := range queued {
		if r.cfg.Pipeline(run.Pipeline) == nil {
			continue
		}
		r.queue = append(r.queue, run)
	}
	r.mu.Unlock()
	r.poke()
	return nil
}

// gc runs `bake gc -run-id ID` and returns what it printed.
func (r *Runner) gc(ctx context.Context, bakeRunID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.opts.Bake, "gc", "-run-id", bakeRunID)
	cmd.Env = r.opts.Env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Run dispatches queued runs and fires schedules until ctx ends; then it
// drains: no new run starts, running ones get until grace to finish and
// are then cancelled (SIGINT, cleanups), and Run returns once every child
// has exited.
func (r *Runner) Run(ctx context.Context, grace time.Duration) {
	go r.schedule(ctx)
	for {
		r.dispatch(ctx)
		select {
		case <-ctx.Done():
			r.drain(grace)
			return
		case <-r.wake:
		}
	}
}

func (r *Runner) drain(grace time.Duration) {
	r.mu.Lock()
	r.draining = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	r.mu.Lock()
	for _, a := range r.active {
		a.stop("shutdown", r.opts.KillGrace)
	}
	r.mu.Unlock()
	<-done
}

// schedule triggers each scheduled pipeline at its cron times.
func (r *Runner) schedule(ctx context.Context) {
	next := map[string]time.Time{}
	now := time.Now()
	for _, p := range r.cfg.Pipelines {
		if t := p.Next(now); !t.IsZero() {
			next[p.Name] = t
		}
	}
	for {
		var soonest time.Time
		for _, t := range next {
			if soonest.IsZero() || t.Before(soonest) {
				soonest = t
			}
		}
		if soonest.IsZero() {
			return
		}
		timer := time.NewTimer(time.Until(soonest))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		now := time.Now()
		for name, t := range next {
			if t.After(now) {
				continue
			}
			if _, err := r.Trigger(ctx, name, "schedule"); err != nil {
				r.opts.Logger.Error("scheduled run not queued", "pipeline", name, "err", err)
			}
			next[name] = r.cfg.Pipeline(name).Next(now)
		}
	}
}

// dispatch starts every queued run that fits the limits.
func (r *Runner) dispatch(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining || ctx.Err() != nil {
		return
	}
	perPipeline := map[string]int{}
	for _, a := range r.active {
		perPipeline[a.run.Pipeline]++
	}
	for i := 0; i < len(r.queue) && len(r.active) < r.cfg.Server.MaxRuns; {
		run := r.queue[i]
		p := r.cfg.Pipeline(run.Pipeline)
		if perPipeline[run.Pipeline] >= p.Concurrency {
			i++
			continue
		}
		r.queue = append(r.queue[:i:i], r.queue[i+1:]...)
		perPipeline[run.Pipeline]++
		a := &activeRun{run: run, stopped: make(chan struct{})}
		r.active[run.ID] = a
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.execute(context.WithoutCancel(ctx), p, a)
			r.mu.Lock()
			delete(r.active, run.ID)
			r.mu.Unlock()
			r.poke()
		}()
	}
}

// stop sends the child SIGINT (bake cleans up as on Ctrl-C) and, when it
// has not exited after grace, SIGKILL.
func (a *activeRun) stop(reason string, grace time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reason == "" {
		a.reason = reason
		close(a.stopped)
	}
	if a.cmd == nil || a.cmd.Process == nil || a.signaled {
		return
	}
	a.signaled = true
	p := a.cmd.Process
	_ = p.Signal(syscall.SIGINT)
	time.AfterFunc(grace, func() { _ = p.Kill() })
}

func (a *activeRun) stopReason() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reason
}

var bakeRunIDRE = regexp.MustCompile(`^run ([0-9a-f-]{36}):`)

// runState is what a run learns from its child's events.
type runState struct {
	bakeRunID string
	failures  []string // "build: error" of each failed build, and run errors
}

// execute runs one pipeline run to its end and records it.
func (r *Runner) execute(ctx context.Context, p *Pipeline, a *activeRun) {
	run := a.run
	log := r.opts.Logger.With("run", run.ID, "pipeline", p.Name)
	ok, err := r.store.StartRun(ctx, run.ID)
	if err != nil || !ok {
		if err != nil {
			log.Error("start run", "err", err)
		}
		return
	}
	r.publishRun(ctx, run.ID)
	r.notify(ctx, run.ID, EventRunStarted)
	started := time.Now()

	status, exitCode, errText, version, promoted := r.build(ctx, p, a, log)

	// The last event is stored before the run is marked finished: an
	// event stream that sees the run finished has the whole log to send.
	r.serverEvent(ctx, run.ID, "finished", fmt.Sprintf("run %s after %s", status, time.Since(started).Round(time.Millisecond)))
	// A database whose disk is full cannot record the end either: try
	// again for a while (space may be freed); after that the run stays
	// running until a restart marks it interrupted.
	for wait := time.Duration(0); ; {
		err := r.store.FinishRun(ctx, run.ID, status, exitCode, errText, version, promoted)
		if err == nil {
			break
		}
		log.Error("finish run", "err", err)
		if !isDiskFull(err) || wait >= r.opts.StoreRetry {
			break
		}
		time.Sleep(time.Second)
		wait += time.Second
	}
	r.publishRun(ctx, run.ID)
	if r.opts.Metrics != nil {
		r.opts.Metrics.RunFinished(p.Name, status, time.Since(started))
	}
	switch status {
	case StatusSucceeded:
		r.notify(ctx, run.ID, EventRunSucceeded)
		if promoted != "" {
			r.notify(ctx, run.ID, EventRunPromoted)
		}
	case StatusFailed:
		r.notify(ctx, run.ID, EventRunFailed)
	case StatusCancelled:
		r.notify(ctx, run.ID, EventRunCancelled)
	}
	log.Info("run finished", "status", status)
}

// build fetches the template, runs the child and, after a success,
// promotes. It returns the run's final facts.
func (r *Runner) build(ctx context.Context, p *Pipeline, a *activeRun, log *slog.Logger) (status string, exitCode *int, errText, version, promoted string) {
	run := a.run
	workDir := filepath.Join(r.cfg.Server.StateDir, "runs", fmt.Sprint(run.ID))
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return StatusFailed, nil, diskFull(workDir, "work directory: "+err.Error()), "", ""
	}
	// A disk without room fails the run now, saying so, rather than at the
	// end of the build when the manifest cannot be written.
	if free, err := freeBytes(workDir); err == nil && free < r.opts.MinFree {
		msg := fmt.Sprintf("the disk is full: the file system holding %s has %s free, and a run needs at least %s (free some space, or move the server's state_dir)", workDir, templates.Size(free), templates.Size(r.opts.MinFree))
		r.serverEvent(ctx, run.ID, "disk", msg)
		return StatusFailed, nil, msg, "", ""
	}
	co, err := Fetch(ctx, p, workDir)
	if err != nil {
		r.serverEvent(ctx, run.ID, "fetch", err.Error())
		return StatusFailed, nil, err.Error(), "", ""
	}
	defer co.Close()
	if co.Commit != "" {
		r.serverEvent(ctx, run.ID, "fetch", "template at commit "+co.Commit)
		_ = r.store.SetRunFacts(ctx, run.ID, "", co.Commit)
	}

	manifest := filepath.Join(workDir, "bake-manifest.sigstore.json")
	args := []string{"build", "-json", "-color=false", "-manifest", manifest}
	if p.SignKey != "" {
		args = append(args, "-sign-key", p.SignKey)
	}
	// The server publishes the manifest itself once the build succeeded
	// (see publish), rather than with bake build -publish: so that a
	// registry that is down is retried with backoff, and what was built is
	// kept and shown when it stays down.
	if p.Publish != "" {
		version = fmt.Sprintf("%s-%s-r%d", p.Name, time.Now().UTC().Format("20060102T150405Z"), run.ID)
	}
	if len(p.Only) > 0 {
		args = append(args, "-only", strings.Join(p.Only, ","))
	}
	for _, v := range p.varArgs() {
		args = append(args, "-var", v)
	}
	for _, f := range co.VarFiles {
		args = append(args, "-var-file", f)
	}
	args = append(args, co.Template)

	cmd := exec.Command(r.opts.Bake, args...)
	cmd.Dir = workDir
	cmd.Env = r.opts.Env
	// Its own process group: a Ctrl-C on the server's terminal reaches the
	// server, which decides what its children get.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return StatusFailed, nil, err.Error(), "", ""
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return StatusFailed, nil, err.Error(), "", ""
	}
	a.mu.Lock()
	if a.reason != "" { // cancelled between dispatch and start
		a.mu.Unlock()
		return StatusCancelled, nil, "cancelled before the build started", "", ""
	}
	if err := cmd.Start(); err != nil {
		a.mu.Unlock()
		return StatusFailed, nil, "start bake: " + err.Error(), "", ""
	}
	a.cmd = cmd
	a.mu.Unlock()

	timer := time.AfterFunc(p.Timeout, func() { a.stop("timeout", r.opts.KillGrace) })
	defer timer.Stop()

	var st runState
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.readEvents(ctx, run.ID, stdout, &st) }()
	var stderrTail []string
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			stderrTail = append(stderrTail, line)
			if len(stderrTail) > 20 {
				stderrTail = stderrTail[1:]
			}
			r.serverEvent(ctx, run.ID, "stderr", line)
		}
	}()
	wg.Wait()
	werr := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	exitCode = &code
	reason := a.stopReason()
	r.recordArtifacts(ctx, run.ID, manifest)

	switch {
	case code == 0 && werr == nil:
		status = StatusSucceeded
	case reason == "cancelled":
		status, errText = StatusCancelled, "cancelled"
	case reason == "shutdown":
		status, errText = StatusCancelled, "cancelled: the server shut down"
	case reason == "timeout":
		status, errText = StatusFailed, fmt.Sprintf("timed out after %s", p.Timeout)
	case reason == "disk":
		a.mu.Lock()
		why := a.storeErr
		a.mu.Unlock()
		status, errText = StatusFailed, "the disk holding the database is full: the run's log could not be stored, so the build was stopped and cleaned up ("+why+")"
	default:
		status = StatusFailed
		errText = strings.Join(st.failures, "\n")
		if errText == "" {
			errText = strings.Join(stderrTail, "\n")
		}
		if errText == "" {
			errText = fmt.Sprintf("bake build exited with %v", werr)
		}
		errText = diskFull(workDir, errText)
	}
	if status != StatusSucceeded {
		return status, exitCode, errText, "", ""
	}
	if p.Publish != "" {
		if err := r.publish(ctx, a, p, manifest, version); err != nil {
			if errors.Is(err, errStopped) {
				return StatusCancelled, exitCode, "cancelled while publishing: the build's artifacts are kept", "", ""
			}
			return StatusFailed, exitCode, fmt.Sprintf("built, but publish to %s failed: %v; the build's artifacts are kept (see the run's artifacts)", p.Publish, err), "", ""
		}
	}
	if p.Promote != "" {
		rec, err := r.promote(ctx, p, version, fmt.Sprintf("run %d of pipeline %s succeeded", run.ID, p.Name))
		if err != nil {
			r.serverEvent(ctx, run.ID, "promote", "promote failed: "+err.Error())
			return StatusFailed, exitCode, "built and published as " + version + ", but promote to " + p.Promote + " failed: " + err.Error(), version, ""
		}
		r.serverEvent(ctx, run.ID, "promote", fmt.Sprintf("channel %s -> %s (sequence %d)", rec.Channel, rec.Version, rec.Sequence))
		promoted = p.Promote
	}
	return status, exitCode, "", version, promoted
}

// readEvents stores and publishes each JSON event line of a child's
// stdout; a line that is not JSON is kept as a "stdout" event.
func (r *Runner) readEvents(ctx context.Context, run int64, rd io.Reader, st *runState) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var ev struct {
			Time    time.Time `json:"time"`
			Type    string    `json:"type"`
			Build   string    `json:"build"`
			Message string    `json:"message"`
			Status  string    `json:"status"`
			Error   string    `json:"error"`
			Elapsed float64   `json:"elapsed_seconds"`
		}
		if err := json.Unmarshal(line, &ev); err != nil || ev.Type == "" {
			r.serverEvent(ctx, run, "stdout", string(line))
			continue
		}
		switch ev.Type {
		case "run_started":
			if m := bakeRunIDRE.FindStringSubmatch(ev.Message); m != nil {
				st.bakeRunID = m[1]
				_ = r.store.SetRunFacts(ctx, run, m[1], "")
			}
		case "build_finished":
			if ev.Status == "failed" {
				st.failures = append(st.failures, ev.Build+": "+ev.Error)
			}
			if r.opts.Metrics != nil {
				r.opts.Metrics.BuildFinished(ev.Build, ev.Status, ev.Elapsed)
			}
		case "error":
			st.failures = append(st.failures, ev.Error)
		}
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		r.append(ctx, run, ev.Type, ev.Build, ev.Time, append(json.RawMessage(nil), line...))
	}
}

// serverEvent records an event the server adds to a run's log.
func (r *Runner) serverEvent(ctx context.Context, run int64, what, message string) {
	body, _ := json.Marshal(map[string]string{"type": "server", "step": what, "message": message})
	r.append(ctx, run, "server", "", time.Now(), body)
}

func (r *Runner) append(ctx context.Context, run int64, typ, build string, t time.Time, body json.RawMessage) {
	ev, err := r.store.AppendEvent(ctx, run, typ, build, t, body)
	if err != nil {
		r.opts.Logger.Error("store event", "run", run, "err", err)
		if isDiskFull(err) {
			// A log that cannot be kept: stop the build (it cleans up as
			// on Ctrl-C) rather than let it go on unrecorded.
			r.mu.Lock()
			a := r.active[run]
			r.mu.Unlock()
			if a != nil {
				a.mu.Lock()
				if a.storeErr == "" {
					a.storeErr = err.Error()
				}
				a.mu.Unlock()
				a.stop("disk", r.opts.KillGrace)
			}
		}
		return
	}
	r.hub.Publish(run, ev)
}

// publishRun tells live subscribers (the run's and everyone's) the run's
// new state.
func (r *Runner) publishRun(ctx context.Context, id int64) {
	run, err := r.store.Run(ctx, id)
	if err != nil {
		return
	}
	r.statusChanged(run)
}

func (r *Runner) statusChanged(run *Run) {
	body, _ := json.Marshal(run)
	ev := Event{RunID: run.ID, Time: time.Now(), Type: "run", Body: body}
	r.hub.Publish(run.ID, ev)
	r.hub.Publish(AllRuns, ev)
}

func (r *Runner) notify(ctx context.Context, id int64, event string) {
	if r.opts.Notifier == nil {
		return
	}
	run, err := r.store.Run(ctx, id)
	if err != nil {
		return
	}
	p := r.cfg.Pipeline(run.Pipeline)
	if p == nil {
		return
	}
	r.opts.Notifier.Notify(ctx, p, run, event)
}

// promote points p's promote channel at version.
func (r *Runner) promote(ctx context.Context, p *Pipeline, version, reason string) (*registry.Record, error) {
	return SetChannel(ctx, p, p.Promote, version, reason, "bake serve", r.opts.Registry)
}

// recordArtifacts stores what the run's manifest says it made (see
// RunArtifacts), when the child wrote one.
func (r *Runner) recordArtifacts(ctx context.Context, run int64, manifest string) {
	if _, err := os.Stat(manifest); err != nil {
		return
	}
	arts, err := ReadRunArtifacts(manifest)
	if err != nil {
		r.serverEvent(ctx, run, "artifacts", "run manifest: "+err.Error())
		if arts == nil {
			return
		}
	}
	if err := r.store.SetArtifacts(ctx, run, arts); err != nil {
		r.serverEvent(ctx, run, "artifacts", "store the run's artifacts: "+err.Error())
		return
	}
	var n, tests, pkgs int
	for _, b := range arts.Builds {
		if r.opts.Metrics != nil {
			for _, st := range b.Steps {
				r.opts.Metrics.CacheStep(b.Builder, st.Status)
			}
		}
		n += len(b.Artifacts)
		tests += len(b.Tests)
		if b.SBOM != nil {
			pkgs += len(b.SBOM.Packages)
		}
	}
	r.serverEvent(ctx, run, "artifacts", fmt.Sprintf("%d artifacts, %d tests, %d packages in SBOMs", n, tests, pkgs))
}

// errStopped is publish's error when the run was cancelled (or the
// server shut down) while it published.
var errStopped = errors.New("stopped")

// publish publishes the run manifest the child wrote to p's repository as
// version, trying up to PublishAttempts times with a doubling backoff
// (registry.PublishRetrying: a registry that does not answer or is
// unavailable is retried; a refusal is not). Every failed attempt is in
// the run's log; a stop of the run ends the publish.
func (r *Runner) publish(ctx context.Context, a *activeRun, p *Pipeline, manifest, version string) error {
	bundle, err := os.ReadFile(manifest)
	if err != nil {
		return fmt.Errorf("the run manifest: %w", err)
	}
	repo, err := registry.Open(p.Publish, r.opts.Registry)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	v, err := repo.PublishRetrying(ctx, bundle, registry.PublishOptions{Version: version}, registry.Retry{
		Attempts: r.opts.PublishAttempts,
		Backoff:  r.opts.PublishBackoff,
		OnRetry: func(attempt, attempts int, err error, wait time.Duration) {
			r.serverEvent(ctx, a.run.ID, "publish", fmt.Sprintf("attempt %d of %d failed: %v; trying again in %s", attempt, attempts, err, wait))
		},
	})
	if err != nil {
		if a.stopReason() != "" {
			return errStopped
		}
		return err
	}
	msg := fmt.Sprintf("published %s:%s (%s)", repo, v.Name, v.Digest)
	if !v.Published {
		msg = fmt.Sprintf("%s:%s already holds this manifest (%s)", repo, v.Name, v.Digest)
	}
	r.serverEvent(ctx, a.run.ID, "publish", msg)
	return nil
}

// freeBytes returns the space an unprivileged process can still write on
// the file system holding dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// diskFull puts the disk first in a run's error that comes from a full
// file system (ENOSPC, in the child's words or the server's), naming the
// file system of the run's working directory and what is free on it.
func diskFull(workDir, errText string) string {
	if !strings.Contains(errText, syscall.ENOSPC.Error()) {
		return errText
	}
	where := "the file system holding " + workDir
	if free, err := freeBytes(workDir); err == nil {
		where += fmt.Sprintf(" (%s free now)", templates.Size(free))
	}
	return "the disk is full: " + where + " ran out of space during the run:\n" + errText
}

// isDiskFull reports whether a database error is a full disk: SQLite's
// SQLITE_FULL, PostgreSQL's disk_full (53100), or ENOSPC in any words.
func isDiskFull(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return errors.Is(err, syscall.ENOSPC) || strings.Contains(msg, "database or disk is full") ||
		strings.Contains(msg, "SQLSTATE 53100") || strings.Contains(msg, syscall.ENOSPC.Error())
}
