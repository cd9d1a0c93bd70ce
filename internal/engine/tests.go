package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
)

// canTest says why b cannot run the job's test blocks, or nil.
func canTest(b builder.Builder, typ string) error {
	t, ok := b.(builder.Tester)
	if !ok {
		return fmt.Errorf("test blocks: the %s builder cannot start a machine from its artifact, so it cannot run tests (docker, qemu and amazon-ebs can)", typ)
	}
	if err := t.CanTest(); err != nil {
		return fmt.Errorf("test blocks: %w", err)
	}
	return nil
}

// test runs the job's test blocks, in order, on a fresh machine the
// builder starts from art, and records each one's outcome in r.tests. The
// first failing test fails the build; the tests after it are skipped.
func (r *jobRun) test(ctx context.Context, b builder.Builder, art *artifacts.Artifact) error {
	records := make([]artifacts.TestRecord, len(r.job.Tests))
	for i, p := range r.job.Tests {
		records[i] = artifacts.TestRecord{Name: testName(p), Type: p.Type, Status: artifacts.TestSkipped, ExitStatus: -1}
	}
	defer func() { r.tests = records }()
	t0 := time.Now()
	var up, ran time.Time
	var testErr error
	hook := func(ctx context.Context, comm provisioners.Communicator, bi provisioners.BuildInfo) error {
		up = time.Now()
		r.ui.Say(fmt.Sprintf("test machine is up after %s; running %d test(s)", up.Sub(t0).Round(time.Millisecond), len(r.job.Tests)))
		info := r.completeInfo(bi)
		defer func() { ran = time.Now() }()
		for i, p := range r.job.Tests {
			rec, err := r.runTest(ctx, comm, info, p)
			records[i] = rec
			if err != nil {
				testErr = err
				return err
			}
		}
		return nil
	}
	err := b.(builder.Tester).Test(ctx, r.ui, art, hook)
	if !ran.IsZero() {
		r.ui.Say(fmt.Sprintf("tests: machine up in %s, tests ran in %s, machine removed in %s",
			up.Sub(t0).Round(time.Millisecond), ran.Sub(up).Round(time.Millisecond), time.Since(ran).Round(time.Millisecond)))
	}
	switch {
	case err == nil:
		return nil
	case testErr != nil:
		return err
	default:
		// The machine never came up (or went away before a test ran): every
		// test stays skipped.
		return fmt.Errorf("test machine: %w", err)
	}
}

// testName is a test record's name: the block's name, else its type.
func testName(p *ProvisionerStep) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Type
}

// runTest runs one test block as the provisioner it is, with its own UI
// that digests the output as printed (redacted), and a communicator that
// notes the last command's exit status.
func (r *jobRun) runTest(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo, p *ProvisionerStep) (artifacts.TestRecord, error) {
	rec := artifacts.TestRecord{Name: testName(p), Type: p.Type, ExitStatus: -1}
	out := &outputDigest{h: sha256.New()}
	u := newBuildUI(r.job.Name, func(e Event) {
		if e.Type == EventOutput {
			out.add(r.opts.Redactor.String(e.Message))
		}
		r.sink(e)
	})
	var sc *statusComm
	if comm != nil {
		sc = &statusComm{Communicator: comm}
		comm = sc
	}
	t0 := time.Now()
	err := r.runProvisioner(ctx, u, comm, info, p)
	rec.DurationSeconds = time.Since(t0).Seconds()
	rec.OutputSHA256 = out.sum()
	failed := 0 // the last non-zero status a command returned, if any
	if sc != nil {
		failed = sc.failed()
	}
	if err == nil {
		rec.Status, rec.ExitStatus = artifacts.TestPassed, failed // non-zero only with valid_exit_codes
		return rec, nil
	}
	rec.Status = artifacts.TestFailed
	rec.Error = r.errText(err)
	if failed == 0 || ctx.Err() != nil {
		failed = -1 // it stopped without a status of its own: a timeout, a lost connection
	}
	rec.ExitStatus = failed
	return rec, err
}

// failedTest ends a build whose tests failed, or whose test machine did
// not start: the artifact is removed, or with -keep-failed-artifacts
// kept and marked untested. Either way the build fails.
func (r *jobRun) failedTest(ctx context.Context, art *artifacts.Artifact, err error) ([]*artifacts.Artifact, error) {
	if r.opts.KeepFailedArtifacts || art.Destroy == nil {
		r.untested = true
		if r.opts.KeepFailedArtifacts {
			r.ui.Say(fmt.Sprintf("keeping %s, marked untested (-keep-failed-artifacts)", art.ID))
		} else {
			r.ui.Error(fmt.Sprintf("%s failed its tests but bake cannot remove it (a cached or reused artifact): it is marked untested", art.ID))
		}
		r.emit(Event{Type: EventArtifact, Artifact: art, Message: art.String() + " (untested)"})
		return []*artifacts.Artifact{art}, err
	}
	parent := r.opts.CleanupContext
	if parent == nil {
		parent = context.WithoutCancel(ctx)
	}
	timeout := r.opts.CleanupTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	dctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	if derr := art.Destroy(dctx); derr != nil {
		r.untested = true
		r.mu.Lock()
		r.remaining = append(r.remaining, fmt.Sprintf("untested artifact %s: %s", art.ID, r.errText(derr)))
		r.mu.Unlock()
		return []*artifacts.Artifact{art}, errors.Join(err, fmt.Errorf("remove the untested artifact %s: %w", art.ID, derr))
	}
	r.ui.Say(fmt.Sprintf("removed %s: it did not pass its tests (-keep-failed-artifacts keeps it)", art.ID))
	return nil, err
}

// statusComm notes the exit status of the last command that failed (a
// provisioner's own cleanup command after the failing script must not
// hide the script's status).
type statusComm struct {
	provisioners.Communicator
	mu   sync.Mutex
	last int
}

func (c *statusComm) Run(ctx context.Context, cmd *provisioners.Cmd) (int, error) {
	st, err := c.Communicator.Run(ctx, cmd)
	if err == nil && st != 0 {
		c.mu.Lock()
		c.last = st
		c.mu.Unlock()
	}
	return st, err
}

// failed is the last non-zero exit status, or 0.
func (c *statusComm) failed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// outputDigest hashes a test's output lines, each with its newline.
type outputDigest struct {
	mu sync.Mutex
	h  hash.Hash
	n  int
}

func (d *outputDigest) add(line string) {
	d.mu.Lock()
	d.h.Write([]byte(line + "\n"))
	d.n++
	d.mu.Unlock()
}

func (d *outputDigest) sum() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return hex.EncodeToString(d.h.Sum(nil))
}
