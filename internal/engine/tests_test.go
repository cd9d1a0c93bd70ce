package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/ui"
)

// testerBuilder builds an artifact whose Destroy it records, and starts a
// "test machine" that runs the hook unless up is an error.
type testerBuilder struct {
	up         error // the test machine does not start
	destroyErr error
	canTest    error

	mu        sync.Mutex
	destroyed bool
	machines  int // test machines running
}

func (b *testerBuilder) Build(ctx context.Context, u ui.UI, hook builder.Hook) (*artifacts.Artifact, error) {
	return &artifacts.Artifact{Builder: "t", ID: "image-1", Destroy: func(ctx context.Context) error {
		if ctx.Err() != nil {
			return ctx.Err() // the engine must destroy on a live context, even after a cancel
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.destroyErr != nil {
			return b.destroyErr
		}
		b.destroyed = true
		return nil
	}}, nil
}

func (b *testerBuilder) CanTest() error { return b.canTest }

func (b *testerBuilder) Test(ctx context.Context, u ui.UI, art *artifacts.Artifact, hook builder.Hook) error {
	if b.up != nil {
		return b.up
	}
	b.mu.Lock()
	b.machines++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.machines--
		b.mu.Unlock()
	}()
	return hook(ctx, statusRunner{}, provisioners.BuildInfo{})
}

// statusRunner is a communicator whose Run exits with the number the
// command is ("3" exits 3).
type statusRunner struct{ provisioners.Communicator }

func (statusRunner) Run(ctx context.Context, cmd *provisioners.Cmd) (int, error) {
	var n int
	for _, c := range cmd.Command {
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// cmdProv runs its commands and fails on the first non-zero status; with
// wait it blocks until its context ends.
type cmdProv struct {
	cmds []string
	wait bool
}

func (p cmdProv) Provision(ctx context.Context, u ui.UI, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
	u.Stdout().Write([]byte("running " + strings.Join(p.cmds, ",") + "\n"))
	for _, c := range p.cmds {
		st, err := comm.Run(ctx, &provisioners.Cmd{Command: c})
		if err != nil {
			return err
		}
		if st != 0 {
			return errors.New("exited " + c)
		}
	}
	if p.wait {
		<-ctx.Done()
		return context.Cause(ctx)
	}
	return nil
}

func testStep(name string, p cmdProv) *ProvisionerStep {
	return &ProvisionerStep{Type: "shell", Name: name, Test: true,
		Make: func(provisioners.BuildInfo) (provisioners.Provisioner, error) { return p, nil }}
}

func TestTestPhase(t *testing.T) {
	run := func(t *testing.T, b *testerBuilder, opts Options, ctx context.Context, tests ...*ProvisionerStep) Result {
		t.Helper()
		job := &Job{Name: "t.x", Type: "t", Tests: tests,
			NewBuilder: func(builder.Options) (builder.Builder, error) { return b, nil }}
		res := Run(ctx, []*Job{job}, opts)[0]
		if b.machines != 0 {
			t.Errorf("%d test machine(s) still running", b.machines)
		}
		return res
	}

	t.Run("pass", func(t *testing.T) {
		b := &testerBuilder{}
		res := run(t, b, Options{}, context.Background(), testStep("a", cmdProv{cmds: []string{"0"}}), testStep("", cmdProv{cmds: []string{"0"}}))
		if res.Status != StatusSucceeded || b.destroyed || len(res.Artifacts) != 1 || res.Untested {
			t.Fatalf("%s %v, destroyed %v, artifacts %d", res.Status, res.Err, b.destroyed, len(res.Artifacts))
		}
		if len(res.Tests) != 2 || res.Tests[0].Name != "a" || res.Tests[1].Name != "shell" || res.Tests[0].Status != artifacts.TestPassed ||
			res.Tests[0].ExitStatus != 0 || len(res.Tests[0].OutputSHA256) != 64 {
			t.Errorf("tests %+v", res.Tests)
		}
	})
	t.Run("fail removes the artifact and skips the rest", func(t *testing.T) {
		b := &testerBuilder{}
		res := run(t, b, Options{}, context.Background(), testStep("a", cmdProv{cmds: []string{"0", "3", "0"}}), testStep("b", cmdProv{}))
		if res.Status != StatusFailed || !b.destroyed || len(res.Artifacts) != 0 || !strings.Contains(res.Err.Error(), `test shell "a"`) {
			t.Fatalf("%s %v, destroyed %v, artifacts %d", res.Status, res.Err, b.destroyed, len(res.Artifacts))
		}
		if res.Tests[0].Status != artifacts.TestFailed || res.Tests[0].ExitStatus != 3 || res.Tests[1].Status != artifacts.TestSkipped || res.Tests[1].ExitStatus != -1 {
			t.Errorf("tests %+v", res.Tests)
		}
	})
	t.Run("keep failed artifacts", func(t *testing.T) {
		b := &testerBuilder{}
		res := run(t, b, Options{KeepFailedArtifacts: true}, context.Background(), testStep("a", cmdProv{cmds: []string{"4"}}))
		if res.Status != StatusFailed || b.destroyed || len(res.Artifacts) != 1 || !res.Untested {
			t.Fatalf("%s, destroyed %v, artifacts %d, untested %v", res.Status, b.destroyed, len(res.Artifacts), res.Untested)
		}
	})
	t.Run("machine never up", func(t *testing.T) {
		b := &testerBuilder{up: errors.New("SSH timed out")}
		res := run(t, b, Options{}, context.Background(), testStep("a", cmdProv{}))
		if res.Status != StatusFailed || !b.destroyed || !strings.Contains(res.Err.Error(), "test machine: SSH timed out") ||
			res.Tests[0].Status != artifacts.TestSkipped {
			t.Fatalf("%s %v, destroyed %v, tests %+v", res.Status, res.Err, b.destroyed, res.Tests)
		}
	})
	t.Run("cancel during a test", func(t *testing.T) {
		b := &testerBuilder{}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		res := run(t, b, Options{}, ctx, testStep("a", cmdProv{wait: true}))
		if res.Status != StatusCancelled || !b.destroyed {
			t.Fatalf("%s %v, destroyed %v", res.Status, res.Err, b.destroyed)
		}
	})
	t.Run("artifact that cannot be removed", func(t *testing.T) {
		b := &testerBuilder{destroyErr: errors.New("AMI busy")}
		res := run(t, b, Options{}, context.Background(), testStep("a", cmdProv{cmds: []string{"1"}}))
		if res.Status != StatusFailed || !res.Untested || len(res.Artifacts) != 1 || len(res.Remaining) != 1 || !strings.Contains(res.Remaining[0], "AMI busy") {
			t.Fatalf("%s, untested %v, artifacts %d, remaining %v", res.Status, res.Untested, len(res.Artifacts), res.Remaining)
		}
	})
	t.Run("builder that cannot test fails before it builds", func(t *testing.T) {
		b := &testerBuilder{canTest: errors.New("docker: set commit = true")}
		res := run(t, b, Options{}, context.Background(), testStep("a", cmdProv{}))
		if res.Status != StatusFailed || !strings.Contains(res.Err.Error(), "test blocks: docker: set commit = true") || len(res.Tests) != 0 {
			t.Fatalf("%s %v", res.Status, res.Err)
		}
	})
}
