package amazon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/internal/testutil/sshd"
)

// fullExtra makes a build use every EC2 call: copies, sharing and AMI
// attributes.
const fullExtra = `ami_regions = ["us-west-2", "eu-west-1"]
ami_users = ["210987654321"]
snapshot_users = ["210987654321"]
imds_support = "v2.0"
deprecate_at = "2030-01-01T00:00:00Z"
`

// leakVariants are the builds the leak tables run: on demand, and a spot
// instance through a launch template and a fleet, with a temporary
// instance profile, as an assumed role.
var leakVariants = []struct{ name, extra string }{
	{"on-demand", fullExtra},
	{"spot", fullExtra + `spot_price = "0.05"
spot_tags = { request = "bake" }
spot_allocation_strategy = "lowest-price"
metadata_options {
  http_tokens = "required"
}
assume_role {
  role_arn     = "arn:aws:iam::123456789012:role/image-builder"
  session_name = "leak-table"
}
temporary_iam_instance_profile_policy_document {
  Version = "2012-10-17"
  Statement {
    Effect   = "Allow"
    Action   = ["logs:*"]
    Resource = ["*"]
  }
}
`},
}

// recorder notes how many calls the server had answered when the build's
// steps ended (the last step done, or one failed): later calls are
// cleanup calls.
type recorder struct {
	mu       sync.Mutex
	e        *env
	boundary int
	started  []string
}

func (r *recorder) event(ev builder.StepEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Phase {
	case "start":
		r.started = append(r.started, ev.Step)
	case "done", "failed":
		r.boundary = len(r.e.ec2.Calls())
	}
}

// TestFailureAtEveryCall fails each EC2 call of a full build in turn and
// checks that nothing is left behind.
func TestFailureAtEveryCall(t *testing.T) {
	srv := startSSHD(t)
	for _, v := range leakVariants {
		t.Run(v.name, func(t *testing.T) { failureAtEveryCall(t, srv, v.extra) })
	}
}

func failureAtEveryCall(t *testing.T, srv *sshd.Server, fullExtra string) {
	e := newEnv(t, srv, ec2test.Options{})
	cfg := e.config(t, "every-call", fullExtra)
	if _, err := newTestBuilder(cfg, builder.Options{RunID: "seq"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	type point struct {
		action string
		skip   int
	}
	var points []point
	for _, c := range e.ec2.Calls() {
		points = append(points, point{c.Action, seen[c.Action]})
		seen[c.Action]++
	}
	t.Logf("%d calls: %v", len(points), e.ec2.Actions())
	for i, p := range points {
		t.Run(fmt.Sprintf("%02d-%s-%d", i, p.action, p.skip), func(t *testing.T) {
			e := newEnv(t, srv, ec2test.Options{})
			e.ec2.Inject(ec2test.Fault{Action: p.action, Skip: p.skip, Code: "UnauthorizedOperation",
				Message: "You are not authorized to perform this operation."})
			rec := &recorder{e: e}
			runID := fmt.Sprintf("fail%02d", i)
			art, err := newTestBuilder(e.config(t, "every-call", fullExtra), builder.Options{RunID: runID, Event: rec.event}, fast).
				Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
			fired := -1
			for j, c := range e.ec2.Calls() {
				if c.Code == "UnauthorizedOperation" {
					fired = j
				}
			}
			switch {
			case fired < 0 && err != nil:
				t.Errorf("the fault never fired, yet the build failed: %v", err)
			case fired >= 0 && fired < rec.boundary && (err == nil || !strings.Contains(err.Error(), "UnauthorizedOperation")):
				t.Errorf("call %d failed during the steps, yet the build returned %v", fired, err)
			}
			t.Logf("fired at %d (steps ended at %d): %v", fired, rec.boundary, err)
			// The number of polls varies with the machine's load: a fault
			// meant for a late poll may not have fired during the build.
			// It is not meant for the artifact's removal.
			e.ec2.ClearFaults()
			destroy(t, art, err)
			e.assertClean(t, runID)
		})
	}
}

// TestCancelAtEveryStep cancels a full build as each step starts, and
// shortly after, and checks that nothing is left behind.
func TestCancelAtEveryStep(t *testing.T) {
	srv := startSSHD(t)
	for _, v := range leakVariants {
		t.Run(v.name, func(t *testing.T) { cancelAtEveryStep(t, srv, v.extra) })
	}
}

func cancelAtEveryStep(t *testing.T, srv *sshd.Server, fullExtra string) {
	e := newEnv(t, srv, ec2test.Options{})
	rec := &recorder{e: e}
	if _, err := newTestBuilder(e.config(t, "cancel", fullExtra), builder.Options{RunID: "steps", Event: rec.event}, fast).
		Build(context.Background(), &testUI{t: t}, runCommands(t, nil)); err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{0, 15 * time.Millisecond} {
		for i, step := range rec.started {
			t.Run(fmt.Sprintf("%s+%s", step, after), func(t *testing.T) {
				e := newEnv(t, srv, ec2test.Options{})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				opts := builder.Options{RunID: fmt.Sprintf("cancel%02d", i), Event: func(ev builder.StepEvent) {
					if ev.Step == step && ev.Phase == "start" {
						if after == 0 {
							cancel()
						} else {
							time.AfterFunc(after, cancel)
						}
					}
				}}
				art, err := newTestBuilder(e.config(t, "cancel", fullExtra), opts, fast).Build(ctx, &testUI{t: t}, runCommands(t, nil))
				if !errors.Is(err, context.Canceled) && !(after > 0 && err == nil) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
				if err == nil && after > 0 {
					t.Logf("the build finished within %s of %q", after, step)
				}
				destroy(t, art, err)
				e.assertClean(t, opts.RunID)
			})
		}
	}
}

// destroy removes the artifact of a build that succeeded: its AMIs are
// the product, not a leak.
func destroy(t *testing.T, art *artifacts.Artifact, err error) {
	t.Helper()
	if err != nil {
		if art != nil {
			t.Errorf("a failed build returned an artifact: %v", art)
		}
		return
	}
	if art == nil {
		t.Fatal("a build that succeeded returned no artifact")
	}
	if err := art.Destroy(context.Background()); err != nil {
		t.Errorf("destroy artifact: %v", err)
	}
}
