package gc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeFinder reports fixed leftovers and records what it was asked to
// remove.
type fakeFinder struct {
	items   []Leftover
	removed []string
	fail    map[string]error
	findErr error
}

func (f *fakeFinder) Name() string { return "fake" }

func (f *fakeFinder) Find(_ context.Context, flt Filter) ([]Leftover, error) {
	return f.items, f.findErr
}

func (f *fakeFinder) Remove(_ context.Context, l Leftover) error {
	if err := f.fail[l.ID]; err != nil {
		return err
	}
	f.removed = append(f.removed, l.ID)
	return nil
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fakeItems() []Leftover {
	return []Leftover{
		{Kind: "docker container", ID: "old-a", RunID: "run-a", Created: now.Add(-48 * time.Hour)},
		{Kind: "docker container", ID: "young-a", RunID: "run-a", Created: now.Add(-time.Minute)},
		{Kind: "docker container", ID: "old-b", RunID: "run-b", Created: now.Add(-30 * time.Hour)},
		{Kind: "EC2 security group", ID: "sg-b", RunID: "run-b"}, // no time: run-b's start stands in
		{Kind: "EC2 security group", ID: "sg-c", RunID: "run-c"}, // no time, nothing else of run-c
	}
}

func outcomes(rep Report) map[string]Outcome {
	m := map[string]Outcome{}
	for _, o := range rep.Items {
		m[o.ID] = o
	}
	return m
}

func TestSweepFilters(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		wantRemoved []string
		wantListed  []string
	}{
		{
			name:        "older-than takes the old and those whose run is old",
			opts:        Options{Filter: Filter{OlderThan: 24 * time.Hour}},
			wantRemoved: []string{"old-a", "old-b", "sg-b"},
			wantListed:  []string{"old-a", "young-a", "old-b", "sg-b", "sg-c"},
		},
		{
			name:        "older-than 0 takes everything",
			opts:        Options{},
			wantRemoved: []string{"old-a", "young-a", "old-b", "sg-b", "sg-c"},
			wantListed:  []string{"old-a", "young-a", "old-b", "sg-b", "sg-c"},
		},
		{
			name:        "run-id limits to one run",
			opts:        Options{Filter: Filter{RunID: "run-a"}},
			wantRemoved: []string{"old-a", "young-a"},
			wantListed:  []string{"old-a", "young-a"},
		},
		{
			name:        "run-id with older-than",
			opts:        Options{Filter: Filter{RunID: "run-a", OlderThan: time.Hour}},
			wantRemoved: []string{"old-a"},
			wantListed:  []string{"old-a", "young-a"},
		},
		{
			name:       "dry run lists and removes nothing",
			opts:       Options{DryRun: true},
			wantListed: []string{"old-a", "young-a", "old-b", "sg-b", "sg-c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFinder{items: fakeItems()}
			tt.opts.Now = now
			rep := Sweep(context.Background(), []Finder{f}, tt.opts)
			if !slices.Equal(f.removed, tt.wantRemoved) {
				t.Errorf("removed %v, want %v", f.removed, tt.wantRemoved)
			}
			var listed, removed []string
			for _, o := range rep.Items {
				listed = append(listed, o.ID)
				if o.Removed {
					removed = append(removed, o.ID)
				}
				if !o.Removed && o.Skipped == "" && !tt.opts.DryRun {
					t.Errorf("%s neither removed nor skipped", o.ID)
				}
				if tt.opts.DryRun && (o.Removed || o.Skipped != "") {
					t.Errorf("dry run: %s removed=%v skipped=%q, want listed as to remove", o.ID, o.Removed, o.Skipped)
				}
			}
			if !slices.Equal(listed, tt.wantListed) {
				t.Errorf("listed %v, want %v", listed, tt.wantListed)
			}
			if !slices.Equal(removed, tt.wantRemoved) {
				t.Errorf("report says removed %v, want %v", removed, tt.wantRemoved)
			}
			if rep.Failed() {
				t.Errorf("report failed: %+v", rep)
			}
		})
	}
}

func TestSweepAges(t *testing.T) {
	f := &fakeFinder{items: fakeItems()}
	rep := Sweep(context.Background(), []Finder{f}, Options{Now: now, DryRun: true})
	o := outcomes(rep)
	if o["old-a"].Age != 48*time.Hour || o["sg-b"].Age != 30*time.Hour || o["sg-c"].Age != 0 {
		t.Errorf("ages: old-a %v, sg-b %v (run-b's start), sg-c %v", o["old-a"].Age, o["sg-b"].Age, o["sg-c"].Age)
	}
	rep = Sweep(context.Background(), []Finder{f}, Options{Now: now, Filter: Filter{OlderThan: time.Hour}})
	if s := outcomes(rep)["sg-c"].Skipped; !strings.Contains(s, "age unknown") {
		t.Errorf("sg-c skipped %q, want age unknown", s)
	}
}

func TestSweepErrors(t *testing.T) {
	f := &fakeFinder{items: fakeItems(), fail: map[string]error{"old-b": errors.New("conflict")}, findErr: errors.New("half the regions")}
	rep := Sweep(context.Background(), []Finder{f}, Options{Now: now})
	if !rep.Failed() || len(rep.Errors) != 1 || !strings.HasPrefix(rep.Errors[0].Error(), "fake: ") {
		t.Fatalf("report errors %v", rep.Errors)
	}
	if o := outcomes(rep)["old-b"]; o.Err == nil || o.Removed {
		t.Errorf("old-b: %+v", o)
	}
	if len(f.removed) != 4 {
		t.Errorf("a failed removal stopped the others: removed %v", f.removed)
	}
}

// TestSweepJournal: a run still going is never touched; an artifact goes
// only with a run that crashed; the journal of a swept run is removed.
func TestSweepJournal(t *testing.T) {
	j := Journal{Dir: t.TempDir()}
	write := func(id string, lines ...string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(j.Dir, id+".jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// crashed: a pid that is not running.
	write("crashed", `{"op":"begin","time":"2026-03-01T10:00:00Z","pid":999999999}`)
	// live: this test process.
	if err := j.Begin("live"); err != nil {
		t.Fatal(err)
	}
	// ended with nothing pending: End removes the file at once.
	if err := j.Begin("ended"); err != nil {
		t.Fatal(err)
	}
	if err := j.End("ended"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(j.Dir, "ended.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("journal of a run that ended with nothing pending: %v", err)
	}
	f := &fakeFinder{items: []Leftover{
		{Kind: "docker image", ID: "img-crashed", RunID: "crashed", Created: now.Add(-time.Hour), Artifact: true},
		{Kind: "docker container", ID: "ctr-crashed", RunID: "crashed", Created: now.Add(-time.Hour)},
		{Kind: "docker image", ID: "img-ended", RunID: "ended", Created: now.Add(-time.Hour), Artifact: true},
		{Kind: "docker container", ID: "ctr-live", RunID: "live", Created: now.Add(-time.Hour)},
	}}
	rep := Sweep(context.Background(), []Finder{f}, Options{Now: now, Journal: j})
	if !slices.Equal(f.removed, []string{"img-crashed", "ctr-crashed"}) {
		t.Errorf("removed %v, want the crashed run's image and container", f.removed)
	}
	o := outcomes(rep)
	if !strings.Contains(o["ctr-live"].Skipped, "still going") {
		t.Errorf("live run's container: skipped %q", o["ctr-live"].Skipped)
	}
	if !strings.Contains(o["img-ended"].Skipped, "artifact") {
		t.Errorf("finished run's image: skipped %q", o["img-ended"].Skipped)
	}
	runs, err := j.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := runs["crashed"]; ok {
		t.Error("the crashed run's journal is still there after its sweep")
	}
	if r, ok := runs["live"]; !ok || !r.Live || r.PID != os.Getpid() {
		t.Errorf("live run: %+v", r)
	}
}

// TestJournalPlaces: a place recorded and neither released nor kept is a
// leftover of a run that ended or crashed; a kept one only of a run that
// crashed; a released one never.
func TestJournalPlaces(t *testing.T) {
	j := Journal{Dir: t.TempDir()}
	root := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(p, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pending, kept, released := mk("pending"), mk("kept"), mk("released")
	run := "0123456789ab"
	if err := j.Begin(run); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pending, kept, released} {
		if err := j.Add(run, Place{Kind: "qemu output directory", Path: p, Build: "qemu.x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Keep(run, kept); err != nil {
		t.Fatal(err)
	}
	if err := j.Release(run, released); err != nil {
		t.Fatal(err)
	}
	// This process wrote the journal and runs: nothing may go.
	rep := Sweep(context.Background(), nil, Options{Journal: j})
	for _, o := range rep.Items {
		if o.Removed || !strings.Contains(o.Skipped, "still going") {
			t.Errorf("live run: %+v", o)
		}
	}
	// Pretend the writer died: rewrite the pids.
	file := filepath.Join(j.Dir, run+".jsonl")
	b, _ := os.ReadFile(file)
	b = []byte(strings.ReplaceAll(string(b), `"pid":`+strconv.Itoa(os.Getpid()), `"pid":999999999`))
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rep = Sweep(context.Background(), nil, Options{Journal: j, DryRun: true})
	var ids []string
	for _, o := range rep.Items {
		ids = append(ids, o.ID)
	}
	if !slices.Equal(ids, []string{pending, kept}) {
		t.Fatalf("crashed run lists %v, want pending and kept", ids)
	}
	rep = Sweep(context.Background(), nil, Options{Journal: j})
	for _, p := range []string{pending, kept} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	if _, err := os.Stat(released); err != nil {
		t.Errorf("released place removed: %v", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal still there after the sweep: %v", err)
	}
}

// TestLocal starts a process as shell-local does (BAKE_RUN_ID in its
// environment, its own process group, a child) and a temporary file, and
// checks that Local finds both and removes them.
func TestLocal(t *testing.T) {
	run := "c0ffee00-1111-4222-8333-444455556666"
	tmp := t.TempDir()
	file := filepath.Join(tmp, "bake-shell-local-"+run+"-123.sh")
	other := filepath.Join(tmp, "bake-shell-local-0123456789ab-9.sh")
	for _, f := range []string{file, other} {
		if err := os.WriteFile(f, []byte("true\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 300 & wait")
	cmd.Env = append(os.Environ(), RunIDEnv+"="+run)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	lf := Local{TempDir: tmp, Grace: time.Second}
	var found []Leftover
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		found, err = lf.Find(context.Background(), Filter{RunID: run})
		if err != nil {
			t.Fatal(err)
		}
		if len(found) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the shell has not forked sleep yet
	}
	var kinds []string
	for _, l := range found {
		kinds = append(kinds, l.Kind+":"+l.Detail)
		if l.RunID != run || l.Created.IsZero() {
			t.Errorf("leftover %+v", l)
		}
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"process:sh", "process:sleep", "temporary file:"}) {
		t.Fatalf("found %v", kinds)
	}
	rep := Sweep(context.Background(), []Finder{lf}, Options{Filter: Filter{RunID: run}})
	if rep.Failed() {
		t.Fatalf("sweep: %+v", rep)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the shell is still running after the sweep")
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another run's file was removed: %v", err)
	}
	if left, _ := lf.Find(context.Background(), Filter{RunID: run}); len(left) > 0 {
		t.Errorf("left after the sweep: %+v", left)
	}
}
