package amazon

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestPollSchedule: by default a wait polls a quarter second after it
// starts and backs off by 1.5 up to the resource's delay; aws_polling or
// the AWS_ environment variables give Packer's fixed delay.
func TestPollSchedule(t *testing.T) {
	t.Setenv("AWS_POLL_DELAY_SECONDS", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	inst, img := pollers(&AccessConfig{}, time.Second)
	want := []time.Duration{250 * time.Millisecond, 375 * time.Millisecond, 562500 * time.Microsecond, 843750 * time.Microsecond}
	for i, w := range want {
		if got := img.pause(i + 1); got != w {
			t.Errorf("image pause %d = %s, want %s", i+1, got, w)
		}
	}
	if got := inst.pause(50); got != 5*time.Second {
		t.Errorf("instance pause 50 = %s, want the 5s cap", got)
	}
	if got := img.pause(50); got != 15*time.Second {
		t.Errorf("image pause 50 = %s, want the 15s cap", got)
	}
	// The first minute of an image wait: at most 16 polls, where a fixed
	// 15 s delay makes 5 and a 1 s delay 61.
	n, sum := 0, time.Duration(0)
	for sum < time.Minute {
		n++
		sum += img.pause(n)
	}
	if n > 16 || n < 8 {
		t.Errorf("%d polls in the first minute", n)
	}

	inst, img = pollers(&AccessConfig{Polling: &Polling{DelaySeconds: 2}}, time.Second)
	if inst.pause(1) != 2*time.Second || img.pause(7) != 2*time.Second || inst.attempts != instanceMaxAttempts {
		t.Errorf("aws_polling delay_seconds = 2: %+v %+v", inst, img)
	}
	t.Setenv("AWS_MAX_ATTEMPTS", "3")
	inst, _ = pollers(&AccessConfig{}, time.Second)
	if inst.pause(1) != 5*time.Second || inst.attempts != 3 {
		t.Errorf("AWS_MAX_ATTEMPTS=3: %+v", inst)
	}
}

// TestWaitBackoff: a resource that is ready after 40 units is seen soon
// after, and a wait that never ends gives up after attempts × delay, with
// the last state in the error.
func TestWaitBackoff(t *testing.T) {
	t.Setenv("AWS_POLL_DELAY_SECONDS", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	const unit = 10 * time.Millisecond
	_, img := pollers(&AccessConfig{}, unit)
	ready := time.Now().Add(40 * unit)
	polls := 0
	t0 := time.Now()
	err := img.wait(context.Background(), "AMI ami-1", func(context.Context) (string, bool, error) {
		polls++
		return "pending", time.Now().After(ready), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Ready at 400 ms; the pauses then are under 150 ms (15 units), so
	// the wait ends before 400 ms + one pause + scheduling slack.
	if late := time.Since(t0) - 40*unit; late > 15*unit+200*time.Millisecond {
		t.Errorf("seen %s after it was ready (%d polls)", late, polls)
	}

	p := poller{delay: 2 * unit, attempts: 5, first: unit / 2}
	t0 = time.Now()
	err = p.wait(context.Background(), "AMI ami-2", func(context.Context) (string, bool, error) { return "pending", false, nil })
	if err == nil || !strings.Contains(err.Error(), "AMI ami-2 still pending after ") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(t0); d < 10*unit || d > 10*unit+time.Second {
		t.Errorf("gave up after %s, want about %s", d, 10*unit)
	}
}
