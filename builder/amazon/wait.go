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
// times, delay apart.
type poller struct {
	delay    time.Duration
	attempts int
}

// pollers returns the instance and image pollers for the access options.
func pollers(ac *AccessConfig, unit time.Duration) (instance, image poller) {
	instance = poller{delay: instanceDelaySeconds * unit, attempts: instanceMaxAttempts}
	image = poller{delay: imageDelaySeconds * unit, attempts: imageMaxAttempts}
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
		if attempt >= p.attempts {
			return fmt.Errorf("%s still %s after %d attempts (%s)", what, last, attempt, elapsed(start))
		}
		t := time.NewTimer(p.delay)
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
