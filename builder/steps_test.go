package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

type nopUI struct{}

func (nopUI) Say(string)        {}
func (nopUI) Error(string)      {}
func (nopUI) Stdout() io.Writer { return io.Discard }
func (nopUI) Stderr() io.Writer { return io.Discard }

// recorder is a builder state that logs every Run and Cleanup.
type recorder struct {
	log     []string
	created map[string]bool
	failed  []bool // builder.Failed as seen by each cleanup
}

func recSteps(n, failAt int, cancelAt int, cancel context.CancelFunc) []Step[recorder] {
	var steps []Step[recorder]
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("s%d", i)
		i := i
		steps = append(steps, Step[recorder]{
			Name: name,
			Run: func(ctx context.Context, r *recorder) error {
				r.log = append(r.log, "run "+name)
				r.created[name] = true
				if i == cancelAt {
					cancel()
					<-ctx.Done()
					return ctx.Err()
				}
				if i == failAt {
					return errors.New("boom")
				}
				return nil
			},
			Cleanup: func(ctx context.Context, r *recorder) error {
				if ctx.Err() != nil {
					return fmt.Errorf("cleanup context already done: %w", ctx.Err())
				}
				r.failed = append(r.failed, Failed(ctx))
				if r.created[name] {
					r.log = append(r.log, "cleanup "+name)
					delete(r.created, name)
				}
				return nil
			},
			Leftover: func(r *recorder) string {
				if r.created[name] {
					return "resource " + name
				}
				return ""
			},
		})
	}
	return steps
}

func expectLog(n, last int) []string {
	var want []string
	for i := 0; i <= last; i++ {
		want = append(want, fmt.Sprintf("run s%d", i))
	}
	for i := last; i >= 0; i-- {
		want = append(want, fmt.Sprintf("cleanup s%d", i))
	}
	return want
}

func TestRunStepsSuccessCleansUpInReverse(t *testing.T) {
	r := &recorder{created: map[string]bool{}}
	err := RunSteps(context.Background(), Options{}, nopUI{}, r, recSteps(4, -1, -1, nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := expectLog(4, 3); !reflect.DeepEqual(r.log, want) {
		t.Fatalf("log %v, want %v", r.log, want)
	}
	for _, f := range r.failed {
		if f {
			t.Fatal("Failed(ctx) true after a successful build")
		}
	}
}

func TestRunStepsFailureAtEachPosition(t *testing.T) {
	for failAt := 0; failAt < 4; failAt++ {
		t.Run(fmt.Sprint(failAt), func(t *testing.T) {
			r := &recorder{created: map[string]bool{}}
			err := RunSteps(context.Background(), Options{}, nopUI{}, r, recSteps(4, failAt, -1, nil))
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("s%d: boom", failAt)) {
				t.Fatalf("err = %v", err)
			}
			if want := expectLog(4, failAt); !reflect.DeepEqual(r.log, want) {
				t.Fatalf("log %v, want %v", r.log, want)
			}
			if len(r.created) != 0 {
				t.Fatalf("left behind: %v", r.created)
			}
			for _, f := range r.failed {
				if !f {
					t.Fatal("Failed(ctx) false in a cleanup after a failure")
				}
			}
		})
	}
}

func TestRunStepsCancelAtEachPosition(t *testing.T) {
	for at := 0; at < 4; at++ {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := &recorder{created: map[string]bool{}}
			err := RunSteps(ctx, Options{}, nopUI{}, r, recSteps(4, -1, at, cancel))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if want := expectLog(4, at); !reflect.DeepEqual(r.log, want) {
				t.Fatalf("log %v, want %v", r.log, want)
			}
		})
	}
}

func TestRunStepsAbortLeavesAndReports(t *testing.T) {
	r := &recorder{created: map[string]bool{}}
	var left []string
	opts := Options{OnError: OnErrorAbort, Event: func(e StepEvent) {
		if e.Phase == "left" {
			left = append(left, e.Detail)
		}
	}}
	err := RunSteps(context.Background(), opts, nopUI{}, r, recSteps(3, 1, -1, nil))
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("err = %v", err)
	}
	if want := []string{"resource s1", "resource s0"}; !reflect.DeepEqual(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	if len(r.created) != 2 {
		t.Fatalf("abort must not clean up: %v", r.created)
	}
}

func TestRunStepsAskRetry(t *testing.T) {
	r := &recorder{created: map[string]bool{}}
	attempts := 0
	steps := recSteps(2, -1, -1, nil)
	steps[1].Run = func(ctx context.Context, r *recorder) error {
		attempts++
		r.created["s1"] = true
		r.log = append(r.log, "run s1")
		if attempts == 1 {
			return errors.New("flaky")
		}
		return nil
	}
	opts := Options{OnError: OnErrorAsk, Ask: func(context.Context, string, error) Decision { return DecideRetry }}
	if err := RunSteps(context.Background(), opts, nopUI{}, r, steps); err != nil {
		t.Fatal(err)
	}
	want := []string{"run s0", "run s1", "cleanup s1", "run s1", "cleanup s1", "cleanup s0"}
	if !reflect.DeepEqual(r.log, want) {
		t.Fatalf("log %v, want %v", r.log, want)
	}
}

func TestRunStepsCleanupErrorsJoined(t *testing.T) {
	r := &recorder{created: map[string]bool{}}
	steps := recSteps(2, 1, -1, nil)
	steps[0].Cleanup = func(context.Context, *recorder) error { return errors.New("still busy") }
	err := RunSteps(context.Background(), Options{}, nopUI{}, r, steps)
	if err == nil || !strings.Contains(err.Error(), "s1: boom") || !strings.Contains(err.Error(), "clean up after s0: still busy") {
		t.Fatalf("err = %v", err)
	}
}

// TestRunStepsSkip checks that a step whose Skip says so neither runs, nor
// reports progress, nor is cleaned up, while the steps around it are; a
// Skip is asked when its step comes up, after the steps before it ran.
func TestRunStepsSkip(t *testing.T) {
	r := &recorder{created: map[string]bool{}}
	steps := recSteps(5, -1, -1, nil)
	steps[1].Run = func(_ context.Context, r *recorder) error {
		r.log = append(r.log, "run s1")
		r.created["s1"] = true
		r.created["skip"] = true // what steps 2 and 3 ask
		return nil
	}
	cleaned := map[string]bool{}
	for i := 2; i <= 3; i++ {
		steps[i].Skip = func(r *recorder) bool { return r.created["skip"] }
		steps[i].Cleanup = func(context.Context, *recorder) error {
			cleaned[steps[i].Name] = true
			return nil
		}
	}
	var events []string
	opts := Options{Event: func(e StepEvent) { events = append(events, e.Phase+" "+e.Step) }}
	if err := RunSteps(context.Background(), opts, nopUI{}, r, steps); err != nil {
		t.Fatal(err)
	}
	want := []string{"run s0", "run s1", "run s4", "cleanup s4", "cleanup s1", "cleanup s0"}
	if !reflect.DeepEqual(r.log, want) {
		t.Fatalf("log %v, want %v", r.log, want)
	}
	if len(cleaned) != 0 {
		t.Errorf("skipped steps cleaned up: %v", cleaned)
	}
	for _, e := range events {
		if strings.HasSuffix(e, " s2") || strings.HasSuffix(e, " s3") {
			t.Errorf("a skipped step reported %q", e)
		}
	}
}
