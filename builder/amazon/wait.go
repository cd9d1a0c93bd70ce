package amazon

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Waiter defaults, used when neither aws_polling nor the environment
// (AWS_POLL_DELAY_SECONDS, AWS_MAX_ATTEMPTS, as Packer reads them) sets
// them: instances change state within minutes, AMIs and their copies
// across regions may take an hour.
const (
	instanceDelaySeconds = 5
	instanceMaxAttempts  = 120 // 10 minutes
	imageDelaySeconds    = 15
	imageMaxAttempts     = 240 // 1 hour
)

// poller polls a resource until it reaches a state, at most attempts
// times, delay apart. With backoff (the default schedule) the first pause
// is first and each next one 1.5 times longer, up to delay; the wait then
// gives up after the time attempts pauses of delay would take, not after
// a count. Every poll is an API call, so it takes a token from the run's
// shared request budget (client.go) like any other call: many builds
// polling at once slow down there, not against EC2's throttling.
type poller struct {
	delay    time.Duration
	attempts int
	first    time.Duration // 0: no backoff, every pause is delay
}

// backoffFirst is the first pause of the default schedule, in pollUnits:
// a resource that changes state in a second is seen about a quarter of a
// second after it did, not a whole delay later.
const backoffFirst = 0.25

// pause is the wait after the n-th poll (from 1).
func (p poller) pause(n int) time.Duration {
	if p.first <= 0 || p.first >= p.delay {
		return p.delay
	}
	d := float64(p.first)
	for i := 1; i < n && d < float64(p.delay); i++ {
		d *= 1.5
	}
	return min(time.Duration(d), p.delay)
}

// pollers returns the instance and image pollers for the access options.
// Without aws_polling or the environment's AWS_POLL_DELAY_SECONDS and
// AWS_MAX_ATTEMPTS they back off from a quarter second; with any of them
// they poll as Packer does, a fixed delay apart.
func pollers(ac *AccessConfig, unit time.Duration) (instance, image poller) {
	first := time.Duration(backoffFirst * float64(unit))
	instance = poller{delay: instanceDelaySeconds * unit, attempts: instanceMaxAttempts, first: first}
	image = poller{delay: imageDelaySeconds * unit, attempts: imageMaxAttempts, first: first}
	delay, attempts := envInt("AWS_POLL_DELAY_SECONDS"), envInt("AWS_MAX_ATTEMPTS")
	if p := ac.Polling; p != nil {
		if p.DelaySeconds > 0 {
			delay = p.DelaySeconds
		}
		if p.MaxAttempts > 0 {
			attempts = p.MaxAttempts
		}
	}
	if delay > 0 {
		instance.delay = time.Duration(delay) * unit
		image.delay = instance.delay
	}
	if attempts > 0 {
		instance.attempts, image.attempts = attempts, attempts
	}
	if delay > 0 || attempts > 0 {
		instance.first, image.first = 0, 0
	}
	return instance, image
}

func envInt(name string) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// check reports a resource's current state and whether the wait is over;
// an error ends the wait (a resource in a state it cannot leave, or a
// failed call).
type check func(ctx context.Context) (state string, done bool, err error)

// wait polls c until it reports done. what names the resource ("AMI
// ami-123 in us-east-1") in the error that a wait which gives up, or is
// cancelled, returns with the last state seen.
func (p poller) wait(ctx context.Context, what string, c check) error {
	start := time.Now()
	limit := time.Duration(p.attempts) * p.delay // with backoff
	last := "unknown"
	for attempt := 1; ; attempt++ {
		st, done, err := c(ctx)
		if st != "" {
			last = st
		}
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if p.first <= 0 && attempt >= p.attempts || p.first > 0 && time.Since(start) >= limit {
			return fmt.Errorf("%s still %s after %d attempts (%s)", what, last, attempt, elapsed(start))
		}
		t := time.NewTimer(p.pause(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for %s, last %s after %s: %w", what, last, elapsed(start), context.Cause(ctx))
		case <-t.C:
		}
	}
}

func elapsed(start time.Time) time.Duration {
	d := time.Since(start)
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}
