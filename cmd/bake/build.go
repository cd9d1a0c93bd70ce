package main

import (
	"bufio"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"golang.org/x/term"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/gc"
	"github.com/bake-tool/bake/internal/kinds"
	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/templates"
)

const buildSynopsis = `[flags] TEMPLATE

Runs every build of TEMPLATE (a file or a directory) in parallel and writes
a signed run manifest.

Example:
  bake build -var region=eu-west-1 -only 'docker.*' -sign-key bake.key .`

type buildFlags struct {
	templateFlags
	parallel       int
	onError        string
	force          bool
	timestampUI    bool
	color          bool
	debug          bool
	jsonOut        bool
	logDir         string
	manifest       string
	signKey        string
	reason         string
	cleanupTimeout time.Duration
	noCache        bool
	keepFailed     bool
	cacheFrom      string
	cacheTo        string
}

func runBuild(ctx context.Context, env *cliEnv, args []string) int {
	var f buildFlags
	fs := newFlagSet("build", buildSynopsis, env.stderr)
	f.register(fs)
	fs.IntVar(&f.parallel, "parallel-builds", 0, "run at most N builds at once (0: no limit)")
	fs.BoolVar(&f.keepFailed, "keep-failed-artifacts", false, "keep an artifact whose test blocks failed, marked untested, instead of removing it (the build still fails)")
	fs.BoolVar(&f.noCache, "no-cache", false, "neither reuse nor store build cache entries (also $BAKE_NO_CACHE=1; see bake cache)")
	fs.StringVar(&f.cacheFrom, "cache-from", "", "also reuse build cache entries shared in the registry repository `REG/REPO` (see bake cache)")
	fs.StringVar(&f.cacheTo, "cache-to", "", "share the build's cache entries in the registry repository `REG/REPO` (see bake cache)")
	fs.StringVar(&f.onError, "on-error", "cleanup", "when a build fails: cleanup, abort, ask or run-cleanup-provisioner")
	fs.BoolVar(&f.force, "force", false, "replace existing outputs (output directories, AMIs with the same name)")
	fs.BoolVar(&f.timestampUI, "timestamp-ui", false, "prefix every output line with a UTC timestamp")
	fs.BoolVar(&f.color, "color", true, "colour output (off when stdout is not a terminal or NO_COLOR is set)")
	fs.BoolVar(&f.debug, "debug", false, "pause after each step until Enter is pressed (runs builds one at a time)")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON event per line on stdout instead of text")
	// Taken out of the arguments by run, wherever it is; listed here for -h.
	fs.Bool("machine-readable", false, "print Packer's machine-readable lines (timestamp,target,type,data...) on stdout instead of text")
	fs.StringVar(&f.logDir, "log-dir", "", "also write one log file per build into this directory")
	fs.StringVar(&f.manifest, "manifest", "bake-manifest.sigstore.json", "where to write the run manifest (\"\" for none)")
	fs.StringVar(&f.signKey, "sign-key", "", "sign the run manifest with this private key (or $BAKE_SIGN_KEY)")
	fs.DurationVar(&f.cleanupTimeout, "cleanup-timeout", 5*time.Minute, "how long each build's cleanup may take")
	fs.StringVar(&f.reason, "reason", "", "why this run is made, for the provenance's audit trail (default: the template's git commit subject)")
	publishTo := fs.String("publish", "", "when every build succeeds, publish the signed run manifest to `REG/REPO` (see bake publish)")
	publishVersion := fs.String("publish-version", "", "the version `name` -publish uses (default: the run id)")
	attest := fs.Bool("attest", true, "attach the signed run manifest to every image the run pushed, for cosign verify-attestation (see bake attest)")
	pos, code, ok := parseVerbFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(env.stderr, "bake build: expected exactly one template path (a file or a directory)")
		fs.Usage()
		return exitUsage
	}
	var onError builder.OnError
	switch f.onError {
	case "cleanup", "abort", "ask", "run-cleanup-provisioner":
		onError = builder.OnError(f.onError)
	default:
		fmt.Fprintf(env.stderr, "bake build: -on-error=%s: want cleanup, abort, ask or run-cleanup-provisioner\n", f.onError)
		return exitUsage
	}
	if f.parallel < 0 {
		fmt.Fprintln(env.stderr, "bake build: -parallel-builds must be 0 (no limit) or more")
		return exitUsage
	}
	f.signKey = signKeyPath(f.signKey, env.environ)
	// Read the key before any build runs: a wrong password should not cost
	// a build.
	var signer crypto.Signer
	if f.signKey != "" && f.manifest != "" {
		var err error
		signer, err = loadSigner(f.signKey, env.environ)
		if err != nil {
			fmt.Fprintf(env.stderr, "bake build: -sign-key: %s\n", err)
			return exitUsage
		}
	}
	if err := checkPublish(*publishTo, f.manifest, signer); err != nil {
		fmt.Fprintf(env.stderr, "bake build: -publish: %s\n", err)
		return exitUsage
	}
	// Likewise a manifest path that cannot be written: found now, not
	// after every build ran.
	if f.manifest != "" {
		if err := artifacts.CheckWritable(f.manifest); err != nil {
			fmt.Fprintf(env.stderr, "bake build: -manifest %s: %s\n", f.manifest, err)
			return exitUsage
		}
	}

	now := time.Now()
	lopts := f.loadOptions(ctx, env)
	lopts.ExecuteData, lopts.Now = true, now
	plan, diags := templates.Load(pos[0], lopts)
	if len(diags) > 0 {
		writeDiagnostics(env, plan, diags) // errors, or warnings worth seeing
	}
	if diags.HasErrors() || plan == nil {
		return exitUsage
	}
	exceptBuilds, exceptPPs := splitExcept(plan, f.except.values)
	selected, sdiags := plan.Select(f.only.values, exceptBuilds)
	if sdiags.HasErrors() {
		writeDiagnostics(env, plan, sdiags)
		return exitUsage
	}
	if len(selected) == 0 {
		fmt.Fprintln(env.stderr, "bake build: no builds to run")
		return exitUsage
	}
	var terminal io.Reader
	if isTerminal(env.stdin) {
		terminal = env.stdin
	}
	jobs, err := engine.Jobs(plan, selected, kinds.Registry(terminal))
	if err != nil {
		fmt.Fprintf(env.stderr, "bake build: %s\n", err)
		return exitUsage
	}
	skipPostProcessors(jobs, exceptPPs)
	if f.debug {
		f.parallel = 1
	}

	runID := uuid.NewString()
	// The run's journal tells bake gc that this run is going and, if it
	// stops without ending it (SIGKILL), that it crashed.
	journal := gc.DefaultJournal(func(k string) string { v, _ := environValue(env.environ, k); return v })
	if err := journal.Begin(runID); err != nil {
		fmt.Fprintf(env.stderr, "bake build: warning: %v (bake gc will not know whether this run crashed)\n", err)
	}
	defer journal.End(runID)
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	color := f.color && isTerminal(env.stdout) && !hasEnv(env.environ, "NO_COLOR")
	// A reader that goes away (bake build … | head) must not stop the
	// build before its cleanups: with SIGPIPE caught, a write to the
	// closed pipe fails instead of killing bake, and the output is dropped.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	env = env.withStdout(&closableOutput{w: env.stdout, stderr: env.stderr})
	var sinks []engine.Sink
	var machine *machineRenderer
	redactor := redact.New(plan.SensitiveValues())
	if env.machine != nil {
		env.machine.w = &closableOutput{w: env.machine.w, stderr: env.stderr}
		env.machine.redact = redactor
		machine = &machineRenderer{m: env.machine}
		sinks = append(sinks, machine.event)
	} else if f.jsonOut {
		sinks = append(sinks, newJSONRenderer(env.stdout).event)
	} else {
		sinks = append(sinks, newHumanRenderer(env.stdout, color, f.timestampUI, names).event)
	}
	if f.logDir != "" {
		ld, err := newLogDir(f.logDir)
		if err != nil {
			fmt.Fprintf(env.stderr, "bake build: -log-dir: %s\n", err)
			return exitUsage
		}
		defer ld.Close()
		sinks = append(sinks, ld.event)
	}
	if env.log != nil {
		env.log.setRedactor(redactor)
		env.log.Debug("template loaded", "root", plan.Root, "digest", plan.Digest, "builds", strings.Join(names, ","))
		sinks = append(sinks, env.log.event)
	}
	sink := func(e engine.Event) {
		for _, s := range sinks {
			s(e)
		}
	}
	emit := func(e engine.Event) {
		e.Time = time.Now()
		sink(e.Redact(redactor))
	}

	// Signals: the first cancels the run (cleanups still run), the second
	// gives cleanups a few more seconds, the third stops them.
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	cleanupCtx, cancelCleanup := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCleanup()
	interrupted := make(chan struct{})
	sigs := make(chan os.Signal, 3)
	interrupts := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) { // under nohup it stays ignored
		interrupts = append(interrupts, syscall.SIGHUP)
	}
	signal.Notify(sigs, interrupts...)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for sig := range sigs {
			_ = sig
			n++
			switch n {
			case 1:
				close(interrupted)
				name := signalName(sig)
				emit(engine.Event{Type: engine.EventMessage, Message: name + " received: stopping builds and cleaning up (press Ctrl-C again to hurry cleanup)"})
				cancelRun(fmt.Errorf("interrupted (%s)", name))
			case 2:
				emit(engine.Event{Type: engine.EventMessage, Message: "second interrupt: cleanups get 5 more seconds; anything not removed by then is listed"})
				time.AfterFunc(5*time.Second, cancelCleanup)
			default:
				cancelCleanup()
			}
		}
	}()

	opts := engine.Options{
		RunID: runID, Parallel: f.parallel, Force: f.force, OnError: onError,
		Sink: sink, Redactor: redactor, CleanupContext: cleanupCtx, CleanupTimeout: f.cleanupTimeout,
		KeepFailedArtifacts: f.keepFailed,
	}
	// The package inventory feeds the SBOMs written beside the manifest.
	opts.Inventory = f.manifest != ""
	if opts.Cache, err = openBuildCache(f.noCache); err != nil {
		fmt.Fprintf(env.stderr, "bake build: %s\n", err)
		return exitUsage
	}
	if opts.SharedCache, err = openSharedCache(opts.Cache, f.cacheFrom, f.cacheTo); err != nil {
		fmt.Fprintf(env.stderr, "bake build: %s\n", err)
		return exitUsage
	}
	prompt := &prompter{in: env.stdin, out: env.stderr, redact: redactor}
	if onError == builder.OnErrorAsk {
		if !isTerminal(env.stdin) {
			fmt.Fprintln(env.stderr, "bake build: -on-error=ask needs a terminal on stdin; failing builds will be cleaned up")
		} else {
			opts.Ask = prompt.ask
		}
	}
	if f.debug {
		opts.Pause = prompt.pause
		opts.DebugKey = (&debugKeys{dir: ".", emit: emit, journal: journal, runID: runID}).keep
	}
	// The template's git state is read before any build writes into the
	// checkout, so that the provenance says what the run started from.
	facts := newRunFacts(ctx, pos[0], f.reason, f.only.values, f.except.values, selected, env.environ, now)
	emit(engine.Event{Type: engine.EventRunStarted, Message: fmt.Sprintf("run %s: %d build(s): %s", runID, len(jobs), strings.Join(names, ", "))})
	results := engine.Run(runCtx, jobs, opts)

	code = exitOK
	for _, r := range results {
		switch r.Status {
		case engine.StatusFailed:
			code = max(code, exitFailed)
		case engine.StatusCancelled:
			if runCtx.Err() != nil {
				code = exitInterrupted
			} else {
				code = max(code, exitFailed)
			}
		}
	}
	select {
	case <-interrupted:
		code = exitInterrupted
	default:
	}

	if f.manifest != "" {
		if err := writeRunManifest(ctx, f.manifest, pos[0], plan, runID, now, results, signer, redactor, facts); err != nil {
			emit(engine.Event{Type: engine.EventError, Error: "run manifest: " + err.Error()})
			code = max(code, exitFailed)
		} else {
			if !f.jsonOut {
				state := "signed"
				if signer == nil {
					state = "UNSIGNED (no -sign-key)"
				}
				fmt.Fprintf(env.stdout, "==> run manifest (%s): %s\n", state, f.manifest)
			}
			if *attest && signer != nil {
				attestRun(ctx, env, f.manifest, f.jsonOut)
			}
		}
		if *publishTo != "" {
			code = max(code, publishRun(ctx, env, *publishTo, *publishVersion, f.manifest, code))
		}
	}
	switch {
	case machine != nil:
		machine.summary(results)
	case f.jsonOut:
		emit(engine.Event{Type: engine.EventRunFinished, Status: statusWord(code), Message: f.manifest})
	default:
		printSummary(env.stdout, results, redactor, color)
	}
	return code
}

// signalName names the signals that interrupt a build.
func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return "SIGINT"
}

// closableOutput is stdout once its reader may go away: the first failed
// write (a closed pipe, a hung-up terminal) is said once on stderr, and
// the rest of the output is dropped, so the build still runs to its end.
type closableOutput struct {
	mu     sync.Mutex
	w      io.Writer
	stderr io.Writer
	closed bool
}

func (o *closableOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return len(p), nil
	}
	if _, err := o.w.Write(p); err != nil {
		o.closed = true
		fmt.Fprintf(o.stderr, "bake build: stdout is gone (%v): dropping output; the builds go on, clean up and write the run manifest\n", err)
	}
	return len(p), nil
}

func statusWord(code int) string {
	switch code {
	case exitOK:
		return "succeeded"
	case exitInterrupted:
		return "interrupted"
	}
	return "failed"
}

func printSummary(w io.Writer, results []engine.Result, r *redact.Redactor, color bool) {
	var ok, bad []engine.Result
	for _, res := range results {
		if res.Status == engine.StatusSucceeded {
			ok = append(ok, res)
		} else {
			bad = append(bad, res)
		}
	}
	if len(ok) > 0 {
		fmt.Fprintln(w, "\n==> Builds finished. The artifacts of successful builds are:")
		for _, res := range ok {
			if len(res.Artifacts) == 0 {
				fmt.Fprintf(w, "--> %s: no artifact\n", res.Name)
			}
			for _, a := range res.Artifacts {
				fmt.Fprintf(w, "--> %s: %s\n", res.Name, r.String(a.String()))
			}
		}
	}
	if len(bad) > 0 {
		fmt.Fprintln(w, "\n==> Some builds didn't complete successfully and had errors:")
		for _, res := range bad {
			msg := ""
			if res.Err != nil {
				msg = r.String(res.Err.Error())
			}
			fmt.Fprintf(w, "--> %s (%s): %s\n", res.Name, res.Status, msg)
			for _, l := range res.Left {
				fmt.Fprintf(w, "    left in place: %s\n", r.String(l))
			}
			for _, l := range res.Remaining {
				fmt.Fprintf(w, "    may remain (cleanup failed): %s\n", r.String(l))
			}
			// A failed post-processor keeps what the build made so far.
			for _, a := range res.Artifacts {
				fmt.Fprintf(w, "    may remain (artifact of this build): %s\n", r.String(a.String()))
			}
		}
	}
}

func writeRunManifest(ctx context.Context, path, template string, plan *templates.Plan, runID string, now time.Time, results []engine.Result, signer crypto.Signer, r *redact.Redactor, facts *runFacts) error {
	vars := map[string]any{}
	var sensitive []string
	for _, v := range plan.Variables {
		if v.Sensitive {
			sensitive = append(sensitive, v.Name)
			continue
		}
		vars[v.Name] = ctyjson.SimpleJSONValue{Value: v.Value}
	}
	abs, _ := filepath.Abs(template)
	info := artifacts.RunInfo{
		RunID: runID, Bucket: filepath.Base(abs), CreatedAt: now, BakeVersion: version,
		TemplatePath: template, TemplateSHA256: plan.Digest, Variables: vars, Sensitive: sensitive,
		Redact: r.String,
	}
	stmt, merr := artifacts.NewRunManifest(info, buildRecords(results))
	// The SBOMs first, so that the manifest records their digests; the
	// provenance, about the same subjects, beside it.
	serr := attachSBOMs(path, stmt, results, signer, runID)
	if err := artifacts.WriteRunManifest(path, stmt, signer); err != nil {
		return errors.Join(merr, serr, err)
	}
	perr := writeProvenance(ctx, path, template, plan, stmt, results, facts, signer)
	if perr != nil {
		perr = fmt.Errorf("provenance: %w", perr)
	}
	return errors.Join(merr, serr, perr)
}

// buildRecords hands the builds' results to the run manifest: every
// build with its status and every artifact it made, a failed build's
// included (what it left in place).
func buildRecords(results []engine.Result) []artifacts.BuildRecord {
	var records []artifacts.BuildRecord
	for _, res := range results {
		records = append(records, artifacts.BuildRecord{
			Name: res.Name, Builder: res.Type, Status: artifacts.BuildStatus(res.Status), Err: res.Err,
			Started: res.Started, Finished: res.Finished, Artifacts: res.Artifacts, Steps: stepEntries(res.Steps),
			Tests: res.Tests, Untested: res.Untested,
		})
	}
	return records
}

// prompter serialises questions on the terminal between parallel builds.
type prompter struct {
	mu      sync.Mutex
	in      io.Reader
	out     io.Writer
	redact  *redact.Redactor // applied to every prompt
	rd      *bufio.Reader
	pending chan lineResult // a read still waiting for input after a cancel
}

type lineResult struct {
	s   string
	err error
}

// readLine reads one line, or gives up when ctx ends; a read that was
// given up on is picked up by the next call rather than raced.
func (p *prompter) readLine(ctx context.Context) (string, error) {
	if p.rd == nil {
		p.rd = bufio.NewReader(p.in)
	}
	if p.pending == nil {
		ch := make(chan lineResult, 1)
		go func() {
			s, err := p.rd.ReadString('\n')
			ch <- lineResult{strings.TrimSpace(s), err}
		}()
		p.pending = ch
	}
	select {
	case r := <-p.pending:
		p.pending = nil
		return r.s, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (p *prompter) ask(ctx context.Context, build, step string, err error) builder.Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		io.WriteString(p.out, p.redact.String(fmt.Sprintf("\n%s: step %q failed: %s\n[c] clean up, [a] abort (leave everything), [r] retry the step: ", build, step, err)))
		ans, rerr := p.readLine(ctx)
		if rerr != nil {
			return builder.DecideCleanup
		}
		switch strings.ToLower(ans) {
		case "c", "cleanup":
			return builder.DecideCleanup
		case "a", "abort":
			return builder.DecideAbort
		case "r", "retry":
			return builder.DecideRetry
		}
	}
}

func (p *prompter) pause(ctx context.Context, build, step string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.out, p.redact.String(fmt.Sprintf("%s: paused after %q; press Enter to continue\n", build, step)))
	_, err := p.readLine(ctx)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func hasEnv(environ []string, key string) bool {
	v, ok := environValue(environ, key)
	return ok && v != ""
}
