package engine

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock whose time moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	armed  chan time.Time // the deadline of each timer made
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), armed: make(chan time.Time, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	at := c.now.Add(d)
	if d <= 0 {
		ch <- c.now
	} else {
		c.timers = append(c.timers, fakeTimer{at, ch})
	}
	c.mu.Unlock()
	c.armed <- at
	return ch
}

// Advance moves the clock by d, fires the timers that are due and
// returns how many fired.
func (c *fakeClock) Advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept, fired := c.timers[:0], 0
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
		} else {
			t.c <- c.now
			fired++
		}
	}
	c.timers = kept
	return fired
}

// waitArmed waits for the watcher to set its next timer, which it does
// once it has handled the one that fired.
func (c *fakeClock) waitArmed(t *testing.T) {
	t.Helper()
	select {
	case <-c.armed:
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher set no timer")
	}
}

// TestWaitNoticeFirstAtInterval: a step still running WaitNotice (15 s by
// default) after it started is reported then, not up to one interval
// later, and again every interval after.
func TestWaitNoticeFirstAtInterval(t *testing.T) {
	clk := newFakeClock()
	events := make(chan Event, 16)
	r := &jobRun{job: &Job{Name: "test.a"}, opts: Options{clock: clk}, sink: func(e Event) { events <- e }}
	stop := r.watch()
	defer stop()
	clk.waitArmed(t)

	// The step starts a second after the watcher, as steps do; time then
	// moves in one-second ticks.
	var notices []time.Duration
	var texts []string
	var stepStart time.Time
	for i := 1; i <= 32; i++ {
		if clk.Advance(time.Second) > 0 {
			clk.waitArmed(t)
		}
		if i == 1 {
			r.setStep("provisioner shell")
			stepStart = clk.Now()
		}
		for len(events) > 0 {
			e := <-events
			if e.Type != EventWaiting || e.Step != "provisioner shell" {
				t.Fatalf("event %+v", e)
			}
			notices = append(notices, clk.Now().Sub(stepStart))
			texts = append(texts, e.Message)
		}
	}
	if len(notices) != 2 || notices[0] != 15*time.Second || notices[1] != 30*time.Second {
		t.Fatalf("still-running notices %s after the step started (%q), want at 15s and 30s", notices, texts)
	}
	if texts[0] != "still running provisioner shell (15s elapsed)" || texts[1] != "still running provisioner shell (30s elapsed)" {
		t.Errorf("notices %q", texts)
	}
}
