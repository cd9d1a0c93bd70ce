package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/ui"
)

// testBuilder runs one step that sleeps, calls the hook, and returns an
// artifact; it records its steps.
type testBuilder struct {
	name  string
	sleep time.Duration
	fail  error
	opts  builder.Options
	log   *[]string
	mu    *sync.Mutex
}

type tbState struct{ made bool }

func (b *testBuilder) record(s string) {
	b.mu.Lock()
	*b.log = append(*b.log, b.name+" "+s)
	b.mu.Unlock()
}

func (b *testBuilder) Build(ctx context.Context, ui ui.UI, hook builder.Hook) (*artifacts.Artifact, error) {
	var st tbState
	steps := []builder.Step[tbState]{
		{Name: "boot", Run: func(ctx context.Context, s *tbState) error {
			b.record("boot")
			s.made = true
			if err := sleep(ctx, b.sleep); err != nil {
				return err
			}
			return b.fail
		}, Cleanup: func(ctx context.Context, s *tbState) error {
			if s.made {
				b.record("cleanup boot")
				s.made = false
			}
			return nil
		}},
		{Name: "provision", Run: func(ctx context.Context, s *tbState) error {
			return hook(ctx, nil, provisioners.BuildInfo{Name: b.name, Host: "127.0.0.1"})
		}},
	}
	if err := builder.RunSteps(ctx, b.opts, ui, &st, steps); err != nil {
		return nil, err
	}
	return &artifacts.Artifact{Builder: "test", ID: "art-" + b.name}, nil
}

type funcProv func(ctx context.Context, ui ui.UI) error

func (f funcProv) Provision(ctx context.Context, ui ui.UI, _ provisioners.Communicator, _ provisioners.BuildInfo) error {
	return f(ctx, ui)
}

func provStep(typ string, f funcProv) *ProvisionerStep {
	return &ProvisionerStep{Type: typ, Make: func(provisioners.BuildInfo) (provisioners.Provisioner, error) { return f, nil }}
}

type harness struct {
	mu     sync.Mutex
	log    []string
	events []Event
}

func (h *harness) job(name string, sleepFor time.Duration, fail error, provs ...*ProvisionerStep) *Job {
	return &Job{Name: "test." + name, Type: "test", SourceName: name, Provisioners: provs,
		NewBuilder: func(o builder.Options) (builder.Builder, error) {
			return &testBuilder{name: name, sleep: sleepFor, fail: fail, opts: o, log: &h.log, mu: &h.mu}, nil
		}}
}

func (h *harness) sink(e Event) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

func (h *harness) times(typ string) map[string]time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]time.Time{}
	for _, e := range h.events {
		if e.Type == typ {
			m[e.Build] = e.Time
		}
	}
	return m
}

func TestRunParallelOverlap(t *testing.T) {
	h := &harness{}
	jobs := []*Job{h.job("a", 300*time.Millisecond, nil), h.job("b", 300*time.Millisecond, nil), h.job("c", 300*time.Millisecond, nil)}
	res := Run(context.Background(), jobs, Options{Sink: h.sink})
	for _, r := range res {
		if r.Status != StatusSucceeded {
			t.Fatalf("%s: %s %v", r.Name, r.Status, r.Err)
		}
	}
	starts, ends := h.times(EventBuildStarted), h.times(EventBuildFinished)
	// Every build started before any finished: they ran at the same time.
	for _, s := range starts {
		for _, e := range ends {
			if !s.Before(e) {
				t.Fatalf("builds did not overlap: starts %v ends %v", starts, ends)
			}
		}
	}
}

func TestRunParallelOneSerialises(t *testing.T) {
	h := &harness{}
	jobs := []*Job{h.job("a", 50*time.Millisecond, nil), h.job("b", 50*time.Millisecond, nil), h.job("c", 50*time.Millisecond, nil)}
	Run(context.Background(), jobs, Options{Sink: h.sink, Parallel: 1})
	type span struct{ s, e time.Time }
	starts, ends := h.times(EventBuildStarted), h.times(EventBuildFinished)
	var spans []span
	for n, s := range starts {
		spans = append(spans, span{s, ends[n]})
	}
	for i := range spans {
		for j := range spans {
			if i != j && spans[i].s.Before(spans[j].e) && spans[j].s.Before(spans[i].e) {
				t.Fatalf("builds overlapped with -parallel-builds=1: %v", spans)
			}
		}
	}
}

func TestRunFailureLeavesOthers(t *testing.T) {
	h := &harness{}
	jobs := []*Job{h.job("a", 100*time.Millisecond, nil), h.job("bad", 10*time.Millisecond, errors.New("disk full")), h.job("c", 100*time.Millisecond, nil)}
	res := Run(context.Background(), jobs, Options{Sink: h.sink})
	if res[0].Status != StatusSucceeded || res[2].Status != StatusSucceeded {
		t.Fatalf("others did not finish: %+v", res)
	}
	if res[1].Status != StatusFailed || !strings.Contains(res[1].Err.Error(), "boot: disk full") {
		t.Fatalf("bad build: %s %v", res[1].Status, res[1].Err)
	}
	if !contains(h.log, "bad cleanup boot") {
		t.Fatalf("failed build not cleaned up: %v", h.log)
	}
}

func TestRunCancelCleansUp(t *testing.T) {
	h := &harness{}
	ctx, cancel := context.WithCancel(context.Background())
	jobs := []*Job{h.job("a", 10*time.Second, nil), h.job("b", 10*time.Second, nil), h.job("c", 10*time.Second, nil)}
	time.AfterFunc(100*time.Millisecond, cancel)
	t0 := time.Now()
	res := Run(ctx, jobs, Options{Sink: h.sink, Parallel: 2})
	if el := time.Since(t0); el > 5*time.Second {
		t.Fatalf("cancel took %s", el)
	}
	for _, r := range res {
		if r.Status != StatusCancelled {
			t.Fatalf("%s: %s %v", r.Name, r.Status, r.Err)
		}
	}
	booted, cleaned := 0, 0
	for _, l := range h.log {
		if strings.HasSuffix(l, " cleanup boot") {
			cleaned++
		} else if strings.HasSuffix(l, " boot") {
			booted++
		}
	}
	if booted != 2 || cleaned != 2 {
		t.Fatalf("want 2 builds started and cleaned up, the third never started; log %v", h.log)
	}
}

func TestProvisionerPauseBeforeAndTimeout(t *testing.T) {
	h := &harness{}
	p := provStep("slow", func(ctx context.Context, ui ui.UI) error {
		<-ctx.Done()
		return ctx.Err()
	})
	p.PauseBefore = 200 * time.Millisecond
	p.Timeout = 300 * time.Millisecond
	t0 := time.Now()
	res := Run(context.Background(), []*Job{h.job("a", 0, nil, p)}, Options{Sink: h.sink})
	el := time.Since(t0)
	if res[0].Status != StatusFailed || !strings.Contains(res[0].Err.Error(), "timed out after 300ms") {
		t.Fatalf("%s %v", res[0].Status, res[0].Err)
	}
	if el < 500*time.Millisecond || el > 5*time.Second {
		t.Fatalf("pause_before + timeout took %s, want about 500ms", el)
	}
}

// A provisioner whose error already carries the timeout's cause (the
// communicators wrap context.Cause) gets it said once, not twice.
func TestProvisionerTimeoutSaidOnce(t *testing.T) {
	h := &harness{}
	p := provStep("slow", func(ctx context.Context, ui ui.UI) error {
		<-ctx.Done()
		return fmt.Errorf("run command: %w", context.Cause(ctx))
	})
	p.Timeout = 100 * time.Millisecond
	res := Run(context.Background(), []*Job{h.job("a", 0, nil, p)}, Options{Sink: h.sink})
	msg := res[0].Err.Error()
	if res[0].Status != StatusFailed || strings.Count(msg, "timed out after 100ms") != 1 {
		t.Fatalf("want the timeout said once: %s %q", res[0].Status, msg)
	}
}

func TestProvisionerMaxRetries(t *testing.T) {
	h := &harness{}
	n := 0
	p := provStep("flaky", func(ctx context.Context, ui ui.UI) error {
		n++
		return fmt.Errorf("attempt %d failed", n)
	})
	p.MaxRetries = 2
	res := Run(context.Background(), []*Job{h.job("a", 0, nil, p)}, Options{Sink: h.sink, RetryDelay: time.Millisecond})
	if n != 3 {
		t.Fatalf("ran %d times, want 3", n)
	}
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "after 3 attempts: attempt 3 failed") {
		t.Fatalf("err %v", res[0].Err)
	}
	// A retry that succeeds makes the build succeed.
	n = 0
	p2 := provStep("flaky", func(ctx context.Context, ui ui.UI) error {
		n++
		if n < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	p2.MaxRetries = 3
	res = Run(context.Background(), []*Job{h.job("b", 0, nil, p2)}, Options{Sink: h.sink, RetryDelay: time.Millisecond})
	if res[0].Status != StatusSucceeded || n != 2 {
		t.Fatalf("%s after %d attempts: %v", res[0].Status, n, res[0].Err)
	}
}

func TestErrorCleanupProvisioner(t *testing.T) {
	for _, tc := range []struct {
		onError builder.OnError
		want    bool
	}{{builder.OnErrorCleanup, true}, {builder.OnErrorCleanupProv, true}, {builder.OnErrorAbort, false}} {
		h := &harness{}
		ran := false
		j := h.job("a", 0, nil, provStep("bad", func(context.Context, ui.UI) error { return errors.New("exit 3") }),
			provStep("never", func(context.Context, ui.UI) error { t.Error("ran after a failure"); return nil }))
		j.ErrorCleanup = provStep("cleanup", func(context.Context, ui.UI) error { ran = true; return nil })
		res := Run(context.Background(), []*Job{j}, Options{Sink: h.sink, OnError: tc.onError})
		if res[0].Status != StatusFailed || ran != tc.want {
			t.Fatalf("on-error=%s: status %s, error-cleanup ran %v", tc.onError, res[0].Status, ran)
		}
	}
}

func TestOutputStreamedAndRedacted(t *testing.T) {
	h := &harness{}
	secret := "hunter2-very-secret"
	p := provStep("echo", func(ctx context.Context, ui ui.UI) error {
		io.WriteString(ui.Stdout(), "line one\nthe password is "+secret+"\npartial")
		ui.Say("using " + secret)
		return errors.New("failed with " + secret)
	})
	Run(context.Background(), []*Job{h.job("a", 0, nil, p)}, Options{Sink: h.sink, Redactor: redact.New([]string{secret})})
	var lines []string
	for _, e := range h.events {
		if strings.Contains(fmt.Sprintf("%+v", e), secret) {
			t.Fatalf("secret in event %+v", e)
		}
		if e.Type == EventOutput {
			lines = append(lines, e.Message)
		}
	}
	want := []string{"line one", "the password is <sensitive>", "partial"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("output lines %q, want %q", lines, want)
	}
}

func TestPostProcessorChains(t *testing.T) {
	h := &harness{}
	destroyed := map[string]bool{}
	pp := func(id string, keep bool) *PostProcessorStep {
		return &PostProcessorStep{Type: "pp", Name: id, KeepInput: keep, Make: func(provisioners.BuildInfo) (artifacts.PostProcessor, error) {
			return ppFunc(func(in *artifacts.Artifact) *artifacts.Artifact {
				return &artifacts.Artifact{Builder: "pp", ID: in.ID + ">" + id,
					Destroy: func(context.Context) error { destroyed[in.ID+">"+id] = true; return nil }}
			}), nil
		}}
	}
	j := h.job("a", 0, nil)
	j.PostProcessors = [][]*PostProcessorStep{{pp("x", false), pp("y", false)}, {pp("z", true)}}
	res := Run(context.Background(), []*Job{j}, Options{Sink: h.sink})
	var ids []string
	for _, a := range res[0].Artifacts {
		ids = append(ids, a.ID)
	}
	if got := strings.Join(ids, ","); got != "art-a,art-a>x>y,art-a>z" {
		t.Fatalf("artifacts %s (err %v)", got, res[0].Err)
	}
	if !destroyed["art-a>x"] {
		t.Fatalf("intermediate artifact not destroyed: %v", destroyed)
	}
}

type ppFunc func(in *artifacts.Artifact) *artifacts.Artifact

func (f ppFunc) PostProcess(ctx context.Context, ui ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	return f(in), false, nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// slowCleanupBuilder's cleanup waits for its context, like a wait for an
// instance to terminate.
type slowCleanupBuilder struct{ opts builder.Options }

func (b *slowCleanupBuilder) Build(ctx context.Context, ui ui.UI, hook builder.Hook) (*artifacts.Artifact, error) {
	var st struct{}
	return nil, builder.RunSteps(ctx, b.opts, ui, &st, []builder.Step[struct{}]{{
		Name: "launch instance i-0abc",
		Run: func(ctx context.Context, _ *struct{}) error {
			<-ctx.Done()
			return ctx.Err()
		},
		Cleanup: func(ctx context.Context, _ *struct{}) error {
			<-ctx.Done()
			return fmt.Errorf("terminate instance i-0abc: %w", ctx.Err())
		},
	}})
}

// TestSecondInterruptListsWhatMayRemain: when the cleanup context is cut
// short (a second Ctrl-C), the build ends promptly and its result names
// what may remain.
func TestSecondInterruptListsWhatMayRemain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cleanupCtx, cancelCleanup := context.WithCancel(context.Background())
	job := &Job{Name: "slow.a", Type: "slow", NewBuilder: func(o builder.Options) (builder.Builder, error) {
		return &slowCleanupBuilder{opts: o}, nil
	}}
	time.AfterFunc(50*time.Millisecond, cancel)
	time.AfterFunc(150*time.Millisecond, cancelCleanup)
	t0 := time.Now()
	res := Run(ctx, []*Job{job}, Options{CleanupContext: cleanupCtx})
	if el := time.Since(t0); el > 5*time.Second {
		t.Fatalf("cleanup was not cut short: %s", el)
	}
	if res[0].Status != StatusCancelled {
		t.Fatalf("status %s", res[0].Status)
	}
	if len(res[0].Remaining) != 1 || !strings.Contains(res[0].Remaining[0], "i-0abc") {
		t.Fatalf("remaining %q", res[0].Remaining)
	}
}
