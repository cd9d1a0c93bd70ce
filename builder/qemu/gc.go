package qemu

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bake-tool/bake/internal/gc"
)

// Finder finds what qemu builds left on this machine: qemu processes
// named bake-RUN-BUILD (-name), swtpm processes whose state is in a
// build's temporary directory, and temporary directories
// bake-qemu-RUN-*. The output directory (with the working disk and a
// partial output in it) can be anywhere: the builder records it in the
// run's journal, and gc.Sweep finds it there.
type Finder struct {
	// TempDir is where temporary directories are looked for; "" means
	// where builds make them (tempRoot).
	TempDir string
	// Grace is how long qemu gets between SIGTERM and SIGKILL; 0 means
	// 5 s.
	Grace time.Duration
}

var _ gc.Finder = Finder{}

// NewFinder returns the finder for this machine.
func NewFinder() Finder { return Finder{} }

var (
	tempNames = gc.NamePattern("bake-qemu-")
	vmNames   = gc.NamePattern("bake-")
	// diskNames are the working disk, partial output and download in the
	// output directory, on qemu-img's command line: .VM.RUN.work.
	diskNames = regexp.MustCompile(`\.(` + gc.RunIDPattern + `)\.(?:work|part|download)$`)
	// tpmPaths are swtpm's state directory and socket, in the temporary
	// directory: dir=/tmp/bake-qemu-RUN-123/tpm, or
	// /tmp/bake-qemu-RUN-test-123/tpm for bake test's machine (test.go
	// runs it as RUN-test).
	tpmPaths = regexp.MustCompile(`/bake-qemu-(` + gc.RunIDPattern + `)-(?:test-)?[0-9]+/tpm`)
)

// Name implements gc.Finder.
func (Finder) Name() string { return "qemu" }

// Find implements gc.Finder: processes first, so that qemu has stopped
// writing before its directories go.
func (f Finder) Find(_ context.Context, flt gc.Filter) ([]gc.Leftover, error) {
	procs, perr := gc.Processes()
	var out []gc.Leftover
	for _, p := range procs {
		kind := "qemu process"
		runID, build, ok := vmName(p.Args)
		if !ok {
			runID, ok = diskTool(p.Args)
		}
		if !ok {
			runID, ok = tpmEmulator(p.Args)
			kind = "swtpm process"
		}
		if !ok || flt.RunID != "" && runID != flt.RunID {
			continue
		}
		out = append(out, gc.Leftover{Kind: kind, ID: strconv.Itoa(p.PID), RunID: runID, Build: build,
			Created: p.Started, Detail: filepath.Base(p.Args[0])})
	}
	root := f.TempDir
	if root == "" {
		root = tempRoot()
	}
	dirs, derr := gc.TempFiles(root, []*regexp.Regexp{tempNames}, "qemu temporary directory", flt)
	return append(out, dirs...), errors.Join(perr, derr)
}

// vmName returns the run id and build of a qemu command line that bake
// started: qemu-system-* with -name bake-RUN-BUILD, or bake-RUN-test-BUILD
// for bake test's machine.
func vmName(args []string) (runID, build string, ok bool) {
	if len(args) < 2 || !strings.HasPrefix(filepath.Base(args[0]), "qemu-system-") {
		return "", "", false
	}
	for i := 1; i+1 < len(args); i++ {
		if args[i] != "-name" {
			continue
		}
		name, _, _ := strings.Cut(args[i+1], ",")
		if m := vmNames.FindStringSubmatch(name); m != nil {
			// bake test's machine is named bake-RUN-test-BUILD (test.go).
			build := strings.TrimPrefix(name, "bake-"+m[1]+"-")
			return m[1], strings.TrimPrefix(build, "test-"), true
		}
	}
	return "", "", false
}

// diskTool returns the run id of a qemu-img command line working on a
// build's disk (a conversion the SIGKILL did not stop: qemu-img outlives
// bake, qemu does not).
func diskTool(args []string) (runID string, ok bool) {
	if len(args) < 2 || filepath.Base(args[0]) != "qemu-img" {
		return "", false
	}
	for _, a := range args[1:] {
		if m := diskNames.FindStringSubmatch(filepath.Base(a)); m != nil {
			return m[1], true
		}
	}
	return "", false
}

// tpmEmulator returns the run id of a swtpm command line whose state or
// socket is in a build's temporary directory (vtpm): a swtpm bake did not
// stop because it was killed.
func tpmEmulator(args []string) (runID string, ok bool) {
	if len(args) < 2 || filepath.Base(args[0]) != "swtpm" {
		return "", false
	}
	for _, a := range args[1:] {
		if m := tpmPaths.FindStringSubmatch(a); m != nil {
			return m[1], true
		}
	}
	return "", false
}

// Remove implements gc.Finder.
func (f Finder) Remove(ctx context.Context, l gc.Leftover) error {
	switch l.Kind {
	case "qemu process", "swtpm process":
		return gc.KillLeftover(ctx, l, f.Grace)
	case "qemu temporary directory":
		return gc.RemovePath(l)
	}
	return fmt.Errorf("not a qemu leftover: %s", l.Kind)
}

// journal is where the builder records its output directory.
func (b *Builder) journal() gc.Journal { return gc.DefaultJournal(b.getenv) }
