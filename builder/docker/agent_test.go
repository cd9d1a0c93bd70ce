package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/bake-tool/bake/internal/testutil/proctest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
	"github.com/bake-tool/bake/provisioners"
)

// commInto starts a container of image as a build does, removed when the
// test ends, and returns the communicator into it.
func commInto(ctx context.Context, t *testing.T, api dockerAPI, image string) *execComm {
	t.Helper()
	runID := newRunID(t, api)
	// Short names in the environment, which a command must see as they
	// are (the agent has variables too).
	env := []string{"c=from the container", "k=from the container", "e=from the container"}
	created, err := api.ContainerCreate(ctx, &container.Config{Image: image, Entrypoint: keepAlive, Env: env,
		Labels: map[string]string{LabelRunID: runID}}, &container.HostConfig{}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		api.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	if err := api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	c := &execComm{api: api, containerID: created.ID, workdir: "/"}
	t.Cleanup(func() { c.Close() })
	return c
}

// execOnly is a communicator into the same container that runs every
// command in an exec of its own, as Run did before the session.
func execOnly(c *execComm) *execComm {
	return &execComm{api: c.api, containerID: c.containerID, workdir: c.workdir, user: c.user, noAgent: true}
}

// result is what a Run gave.
type result struct {
	code           int
	err            error
	stdout, stderr string
}

func runCmd(ctx context.Context, c *execComm, cmd provisioners.Cmd) result {
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	code, err := c.Run(ctx, &cmd)
	return result{code, err, out.String(), errOut.String()}
}

// usedSession fails the test unless c ran its commands in a session.
func usedSession(t *testing.T, c *execComm) {
	t.Helper()
	if c.noAgent || c.sess == nil {
		t.Fatalf("the commands did not run in the session (noAgent %v)", c.noAgent)
	}
}

// TestSessionLikeExec: through the session, a command gives what it gives
// in an exec of its own: its stdout and stderr apart, exact exit codes
// (signals and exits of the command's own shell included), its
// environment and working directory, its stdin byte for byte (any byte,
// empty, no final newline, larger than the session takes, a stream).
//
// It runs in the base image (dash) and in one whose /bin/sh is bash.
func TestSessionLikeExec(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	t.Run("dash", func(t *testing.T) { sessionLikeExec(ctx, t, commInto(ctx, t, api, testenv.BaseImage()), true) })
	base := commInto(ctx, t, api, testenv.BaseImage())
	run(ctx, t, base, "ln -sf bash /bin/sh")
	img, err := api.ContainerCommit(ctx, base.containerID, container.CommitOptions{Config: &container.Config{Entrypoint: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, api, img.ID)
	t.Run("bash", func(t *testing.T) { sessionLikeExec(ctx, t, commInto(ctx, t, api, img.ID), false) })
}

// sessionLikeExec is TestSessionLikeExec in the container of sess; with
// dash, the exec's results are checked against the expected ones too.
func sessionLikeExec(ctx context.Context, t *testing.T, sess *execComm, dash bool) {
	plain := execOnly(sess)
	all := make([]byte, 0, 1024)
	for i := range 1024 {
		all = append(all, byte(i))
	}
	big := bytes.Repeat([]byte("0123456789abcdef\x00\n"), 5000) // above agentStdinMax
	for _, tc := range []struct {
		name string
		cmd  provisioners.Cmd
		want result
	}{
		{"streams apart", provisioners.Cmd{Command: "printf a; printf b >&2; printf c; echo d >&2"}, result{0, nil, "ac", "bd\n"}},
		{"exit 7", provisioners.Cmd{Command: "echo x; exit 7"}, result{7, nil, "x\n", ""}},
		{"exit 255", provisioners.Cmd{Command: "exit 255"}, result{255, nil, "", ""}},
		{"exit 256", provisioners.Cmd{Command: "exit 256"}, result{0, nil, "", ""}},
		{"own shell killed", provisioners.Cmd{Command: "kill -9 $$"}, result{137, nil, "", ""}},
		{"own shell terminated", provisioners.Cmd{Command: "kill $$; sleep 5"}, result{143, nil, "", ""}},
		{"child killed", provisioners.Cmd{Command: "sh -c 'kill -9 $$'"}, result{137, nil, "", "Killed\n"}},
		{"syntax error", provisioners.Cmd{Command: "if then"}, result{2, nil, "", "/bin/sh: 1: eval: Syntax error: \"then\" unexpected\n"}},
		{"multi-line", provisioners.Cmd{Command: "a='x\n\n y\\' ;\necho \"$a\"\n\n"}, result{0, nil, "x\n\n y\\\n", ""}},
		{"no stdin", provisioners.Cmd{Command: "cat; echo end"}, result{0, nil, "end\n", ""}},
		{"every byte", provisioners.Cmd{Command: "cat", Stdin: bytes.NewReader(all)}, result{0, nil, string(all), ""}},
		{"printf hazards", provisioners.Cmd{Command: "cat", Stdin: strings.NewReader("-n %s %d %% \\n \\0 \\\\ -")}, result{0, nil, "-n %s %d %% \\n \\0 \\\\ -", ""}},
		{"empty stdin", provisioners.Cmd{Command: "wc -c", Stdin: strings.NewReader("")}, result{0, nil, "0\n", ""}},
		{"stdin unread", provisioners.Cmd{Command: "echo ok", Stdin: bytes.NewReader(bytes.Repeat([]byte("x"), 60000))}, result{0, nil, "ok\n", ""}},
		{"stdin partly read", provisioners.Cmd{Command: "head -c 3", Stdin: bytes.NewReader(bytes.Repeat([]byte("y\n"), 30000))}, result{0, nil, "y\ny", ""}},
		{"large stdin", provisioners.Cmd{Command: "cat", Stdin: bytes.NewReader(big)}, result{0, nil, string(big), ""}},
		{"streamed stdin", provisioners.Cmd{Command: "cat", Stdin: io.MultiReader(strings.NewReader("a\x00"), strings.NewReader("b"))}, result{0, nil, "a\x00b", ""}},
		{"environment", provisioners.Cmd{Command: "env | sort; pwd; echo $0; umask; trap"}, result{}},
		// What a program the command runs inherits (its own mask and
		// ignored signals), and what the shell ignores. Not the shell's
		// mask: bash blocks signals for a moment around each fork, and
		// grep can read it then.
		{"signals", provisioners.Cmd{Command: "grep -E '^Sig(Ign|Blk)' /proc/self/status; grep '^SigIgn' /proc/$$/status"}, result{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runCmd(ctx, sess, tc.cmd)
			if tc.cmd.Stdin != nil {
				// The reader was used up: give the exec the same bytes.
				switch tc.name {
				case "every byte":
					tc.cmd.Stdin = bytes.NewReader(all)
				case "large stdin":
					tc.cmd.Stdin = bytes.NewReader(big)
				case "streamed stdin":
					tc.cmd.Stdin = io.MultiReader(strings.NewReader("a\x00"), strings.NewReader("b"))
				case "stdin unread":
					tc.cmd.Stdin = bytes.NewReader(bytes.Repeat([]byte("x"), 60000))
				case "stdin partly read":
					tc.cmd.Stdin = bytes.NewReader(bytes.Repeat([]byte("y\n"), 30000))
				default:
					tc.cmd.Stdin = strings.NewReader(map[string]string{"printf hazards": "-n %s %d %% \\n \\0 \\\\ -", "empty stdin": ""}[tc.name])
				}
			}
			want := runCmd(ctx, plain, tc.cmd)
			if dash && tc.name != "environment" && tc.name != "signals" && !sameResult(want, tc.want) {
				t.Fatalf("in an exec: %s, the test expects %s", show(want), show(tc.want))
			}
			if !sameResult(got, want) {
				t.Errorf("in the session: %s\nin an exec: %s", show(got), show(want))
			}
		})
	}
	usedSession(t, sess)
}

func sameResult(a, b result) bool {
	return a.code == b.code && (a.err == nil) == (b.err == nil) && a.stdout == b.stdout && a.stderr == b.stderr
}

func show(r result) string {
	s := fmt.Sprintf("exit %d, err %v, stdout %q, stderr %q", r.code, r.err, r.stdout, r.stderr)
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// TestSessionExecUser: the session runs commands as exec_user.
func TestSessionExecUser(t *testing.T) {
	ctx := testContext(t)
	c := commInto(ctx, t, engine(t), testenv.BaseImage())
	c.user = "nobody"
	if got := runCmd(ctx, c, provisioners.Cmd{Command: "id -un; touch /root/x"}); got.stdout != "nobody\n" || got.code == 0 {
		t.Errorf("as nobody: %s", show(got))
	}
	usedSession(t, c)
}

// TestSessionStreamsAndConcurrentRuns: a command's output arrives while
// it runs (the command waits for a file that a second Run, made while
// the first holds the session, creates).
func TestSessionStreamsAndConcurrentRuns(t *testing.T) {
	ctx := testContext(t)
	c := commInto(ctx, t, engine(t), testenv.BaseImage())
	var out proctest.Buffer
	done := make(chan result, 1)
	go func() {
		code, err := c.Run(ctx, &provisioners.Cmd{Command: "echo started; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo finished", Stdout: &out})
		done <- result{code: code, err: err, stdout: out.String()}
	}()
	waitOutput(t, &out, "started\n")
	second := runCmd(ctx, c, provisioners.Cmd{Command: "touch /tmp/go; echo second"})
	if second.err != nil || second.code != 0 || second.stdout != "second\n" {
		t.Errorf("second Run: %s", show(second))
	}
	if first := <-done; first.err != nil || first.code != 0 || first.stdout != "started\nfinished\n" {
		t.Errorf("first Run: %s", show(first))
	}
	usedSession(t, c)
}

// TestSessionSurvivesItsCommands: a command that signals its whole
// process group (kill 0, as `trap 'kill 0' EXIT` does), or kills the agent
// outright, gets its exit status, and the next Run works.
func TestSessionSurvivesItsCommands(t *testing.T) {
	ctx := testContext(t)
	c := commInto(ctx, t, engine(t), testenv.BaseImage())
	for _, tc := range []struct {
		command string
		code    int
	}{
		{"sleep 30 & kill 0; sleep 30", 143},
		{"trap 'kill 0' EXIT; sleep 30 & echo ok", 143},
		{"kill -9 0", 137},
		{"kill -9 $PPID", 137},
		{"kill -USR1 $PPID; kill -PIPE $PPID; kill -HUP $PPID; sleep 0.1; exit 3", 3},
	} {
		if got := runCmd(ctx, c, provisioners.Cmd{Command: tc.command}); got.err != nil || got.code != tc.code {
			t.Errorf("%q: %s, want exit %d", tc.command, show(got), tc.code)
		}
		if got := runCmd(ctx, c, provisioners.Cmd{Command: "echo next"}); got.err != nil || got.stdout != "next\n" {
			t.Errorf("after %q: %s", tc.command, show(got))
		}
	}
	usedSession(t, c)
}

// TestSessionContainerDies: a container that stops or is removed while a
// command runs makes Run return ErrDisconnected, in the session as in an
// exec.
func TestSessionContainerDies(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	for _, how := range []string{"kill", "remove"} {
		for _, session := range []bool{true, false} {
			c := commInto(ctx, t, api, testenv.BaseImage())
			if !session {
				c = execOnly(c)
			}
			var out proctest.Buffer
			killed := make(chan struct{})
			go func() {
				defer close(killed)
				waitOutput(t, &out, "started")
				if how == "kill" {
					api.(interface {
						ContainerKill(context.Context, string, string) error
					}).ContainerKill(ctx, c.containerID, "KILL")
				} else {
					api.ContainerRemove(ctx, c.containerID, container.RemoveOptions{Force: true})
				}
			}()
			code, err := c.Run(ctx, &provisioners.Cmd{Command: "echo started; sleep 600", Stdout: &out})
			<-killed
			if !errors.Is(err, provisioners.ErrDisconnected) {
				t.Errorf("%s, session %v: Run returned %d, %v; want ErrDisconnected", how, session, code, err)
			}
		}
	}
}

// TestSessionEnds: Close ends the agent; a cancelled command ends it too
// (the command's process group is the agent's), and the next Run starts
// a new one.
func TestSessionEnds(t *testing.T) {
	ctx := testContext(t)
	c := commInto(ctx, t, engine(t), testenv.BaseImage())
	root := execOnly(c)
	agents := func() []string { return containerProcs(ctx, t, root, agentReady) }
	run(ctx, t, c, "true")
	if n := len(agents()); n != 1 {
		t.Fatalf("%d agents run", n)
	}
	rctx, cancel := context.WithCancel(ctx)
	var out proctest.Buffer
	go func() {
		waitOutput(t, &out, "started")
		cancel()
	}()
	if _, err := c.Run(rctx, &provisioners.Cmd{Command: "echo started; sleep 617", Stdout: &out}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Run: %v", err)
	}
	if ps := containerProcs(ctx, t, root, "sleep 617"); len(ps) != 0 || len(agents()) != 0 {
		t.Errorf("after the cancel: %q, %d agents", ps, len(agents()))
	}
	if got := run(ctx, t, c, "echo again"); got != "again" {
		t.Errorf("after the cancel: %q", got)
	}
	usedSession(t, c)
	c.Close()
	for range 100 {
		if len(agents()) == 0 {
			return
		}
		root.Run(ctx, &provisioners.Cmd{Command: "sleep 0.1"})
	}
	t.Errorf("the agent still runs after Close: %q", agents())
}

// TestNoAgent: in an image whose sh cannot run the agent, Run uses an
// exec per command and behaves as before.
func TestNoAgent(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	base := commInto(ctx, t, api, testenv.BaseImage())
	// A shell without printf, to the agent: dash with printf as a
	// function that fails as a missing command does.
	run(ctx, t, base, `rm /bin/sh && printf '%s\n' '#!/bin/dash' 'case "$2" in *`+agentReady+`*) set -- "$1" "printf() { echo sh: printf: not found >&2; return 127; }; $2";; esac' 'exec /bin/dash "$@"' > /bin/sh && chmod 755 /bin/sh`)
	img, err := api.ContainerCommit(ctx, base.containerID, container.CommitOptions{Config: &container.Config{Entrypoint: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, api, img.ID)
	c := commInto(ctx, t, api, img.ID)
	for range 2 {
		got := runCmd(ctx, c, provisioners.Cmd{Command: "cat; exit 3", Stdin: strings.NewReader("in")})
		if got.err != nil || got.code != 3 || got.stdout != "in" {
			t.Errorf("%s", show(got))
		}
	}
	if !c.noAgent || c.sess != nil {
		t.Errorf("noAgent %v, session %v", c.noAgent, c.sess)
	}

	// A build from that image: its main process cannot run the agent
	// either; the build says so at once (no wait for the agent's
	// timeout) and runs its commands in execs.
	cfg := testConfig()
	cfg.Image = img.ID
	cfg.Discard = true
	t0 := time.Now()
	_, err = New(cfg, testOptions(newRunID(t, api), "noagent")).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		if got := run(ctx, t, comm, "echo in a build"); got != "in a build" {
			t.Errorf("build command printed %q", got)
		}
		if c := comm.(*execComm); !c.noAgent || c.sess != nil {
			t.Errorf("build: noAgent %v, session %v", c.noAgent, c.sess)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > agentStartTimeout/2 {
		t.Errorf("the build took %s: it waited for an agent that had failed", d)
	}
}

// TestMkdirLikeTar: container_dir made by a command in the session (as
// root) gets the mode and owner the archive API gives it, parents too.
func TestMkdirLikeTar(t *testing.T) {
	ctx := testContext(t)
	c := commInto(ctx, t, engine(t), testenv.BaseImage())
	if err := c.mkdir(ctx, "/by/session"); err != nil {
		t.Fatal(err)
	}
	usedSession(t, c)
	tarred := &execComm{api: c.api, containerID: c.containerID, workdir: "/", imageUser: "nobody"}
	if err := tarred.mkdir(ctx, "/by/tar"); err != nil {
		t.Fatal(err)
	}
	if err := c.mkdir(ctx, "/by/session"); err != nil { // exists
		t.Fatal(err)
	}
	got := run(ctx, t, c, "stat -c '%n %a %U:%G' /by /by/session /by/tar")
	if want := "/by 755 root:root\n/by/session 755 root:root\n/by/tar 755 root:root"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestIdle: a commit skips the pause only when nothing but bake's own
// processes runs in the container: not with a process a command left in
// the background, nor without a session to ask.
func TestIdle(t *testing.T) {
	ctx := testContext(t)
	c := commInto(ctx, t, engine(t), testenv.BaseImage())
	if c.idle(ctx) {
		t.Error("idle before the session started")
	}
	run(ctx, t, c, "echo x > /f")
	if !c.idle(ctx) {
		t.Error("not idle after a command ended")
	}
	// Each background job in turn, the container idle again in between
	// (a job's last program, such as the writer's sleep, may outlive it
	// by a moment): the writer runs programs; the spinner only builtins,
	// so it is a fork of the command's shell, tag and all, and nothing
	// else.
	for _, job := range []struct{ name, loop string }{
		{"writer", "date >> /f; sleep 0.2"},
		{"spinner", "echo x > /g"},
	} {
		run(ctx, t, c, "while :; do "+job.loop+"; done >/dev/null 2>&1 & echo $! > /job")
		if c.idle(ctx) {
			t.Errorf("idle while a background %s runs", job.name)
		}
		run(ctx, t, c, "kill $(cat /job)")
		for i := 0; !c.idle(ctx); i++ {
			if i == 100 {
				t.Fatalf("not idle 10 s after the %s was killed", job.name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if execOnly(c).idle(ctx) {
		t.Error("idle without a session")
	}
	c.Close()
	nobody := &execComm{api: c.api, containerID: c.containerID, workdir: "/", user: "nobody"}
	run(ctx, t, nobody, "true")
	if nobody.idle(ctx) {
		t.Error("idle, asked as a user who may not see every process")
	}
	nobody.Close()
}

// TestBuildSessionIsMainProcess: a build container whose commands run as
// the image's user runs the command session as its main process, so a
// build makes no exec at all (the agent was one per build); its committed
// image shows none of it.
func TestBuildSessionIsMainProcess(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	ev, ok := api.(interface {
		Events(context.Context, events.ListOptions) (<-chan events.Message, <-chan error)
	})
	if !ok {
		t.Fatalf("%T has no Events", api)
	}
	ectx, stop := context.WithCancel(ctx)
	defer stop()
	msgs, errs := ev.Events(ectx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", "container"), filters.Arg("label", LabelRunID+"="+runID))})
	var mu sync.Mutex
	var seen []string
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for {
			select {
			case m := <-msgs:
				mu.Lock()
				seen = append(seen, string(m.Action))
				mu.Unlock()
			case <-errs:
				return
			}
		}
	}()
	cfg := testConfig()
	cfg.Commit = true
	art, err := New(cfg, testOptions(runID, "main")).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		c := comm.(*execComm)
		if c.sess == nil || c.sess.execID != "" {
			t.Errorf("the build's communicator has no main-process session: %+v", c.sess)
		}
		for i := range 3 {
			run(ctx, t, comm, fmt.Sprintf("echo %d > /step%d", i, i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, api, art.ID)
	// The engine sends its events as they happen; the build's are all
	// out once its container is destroyed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done := slices.Contains(seen, "destroy")
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-collected
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(seen, "start") || !slices.Contains(seen, "destroy") {
		t.Fatalf("events of the build's container: %v; want its start and destroy", seen)
	}
	for _, a := range seen {
		if strings.HasPrefix(a, "exec_create") {
			t.Errorf("the build made an exec (events %v)", seen)
			break
		}
	}
	insp, err := api.ImageInspect(ctx, art.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c := insp.Config; len(c.Entrypoint) != 0 {
		t.Errorf("the committed image's entrypoint is %q, want none (the session must not leak into it)", c.Entrypoint)
	}
	if out := runImage(ctx, t, api, runID, art.ID, "cat", "/step0", "/step2"); out != "0\n2\n" {
		t.Errorf("the image holds %q, want the steps' files", out)
	}
}

// TestMainSessionCancel: when a command of the main-process session is
// cancelled, it and what it started are gone by the time Run returns, the
// container goes on running, and later commands run (in a session of
// their own).
func TestMainSessionCancel(t *testing.T) {
	withContainer(t, func(ctx context.Context, comm provisioners.Communicator) {
		c := comm.(*execComm)
		if c.sess == nil || c.sess.execID != "" {
			t.Fatalf("no main-process session: %+v", c.sess)
		}
		var out proctest.Buffer
		rctx, cancel := context.WithCancel(ctx)
		go func() {
			waitOutput(t, &out, "started")
			cancel()
		}()
		_, err := c.Run(rctx, &provisioners.Cmd{Command: "sh -c 'echo started; sleep 713 & sleep 714; echo late > /tmp/late'", Stdout: &out})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
		if ps := containerProcs(ctx, t, comm, "sleep 71"); len(ps) != 0 {
			t.Errorf("still running after Run returned: %q", ps)
		}
		for i := range 2 {
			if got := run(ctx, t, comm, fmt.Sprintf("echo after %d", i)); got != fmt.Sprintf("after %d", i) {
				t.Errorf("a command after the cancel printed %q", got)
			}
		}
		if c.sess == nil || c.sess.execID == "" {
			t.Errorf("after the cancel, commands do not run in an exec session: %+v", c.sess)
		}
		if ps := containerProcs(ctx, t, comm, "# bake exec "); len(ps) == 0 {
			t.Errorf("the container's main process is gone")
		}
	})
}
