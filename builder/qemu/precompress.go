package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Compressing the output while the guest boots.
//
// With disk_compression the output used to be written after the guest
// shut down: qemu-img convert -c of the whole working disk, seconds of
// zlib on every cluster, most of which the guest never touched. When the
// VM runs on a qcow2 overlay on the base (overlayWork), the base does not
// change during the build, so its compressed copy can be written while
// the guest boots and is provisioned, by a qemu-img at the lowest CPU
// priority (the guest's TCG vCPU keeps its core). Once qemu has exited
// the overlay is moved onto that copy (qemu-img rebase -u: the copy has
// the base's content) and committed into it (qemu-img commit: only the
// clusters the guest wrote, in milliseconds), and the copy is the output:
// a standalone qcow2 with the same content as the classic convert's.
// Clusters the guest changed are stored uncompressed; all others are
// compressed as before.
//
// The copy is .VM.RUN.part in the output directory (the name bake gc
// knows: a qemu-img left running on it after a SIGKILL is found and
// stopped, the directory is in the run's journal). A failed or cancelled
// build kills the background qemu-img and removes the copy. When the
// background compression fails, the convert step says so and converts as
// before.

// precompress is the background compression of the base into the output.
type precompress struct {
	path    string // the compressed copy of the base (.VM.RUN.part)
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	started time.Time
	done    chan struct{} // closed once qemu-img has been reaped
	err     error         // set before done is closed
	took    time.Duration // how long qemu-img ran, set before done is closed
}

// precompressable says whether the output can be written by compressing
// the base while the guest runs: the working disk is a qcow2 overlay on a
// base the build only reads (overlayWork), the output is a compressed
// qcow2 (disk_compression) and a fresh file of this build's.
func (b *Builder) precompressable(s *state) bool {
	return s.overlay && b.precompressWanted()
}

// precompressWanted says whether the build's options allow compressing the
// base while the guest runs: then createDisk makes the working disk an
// overlay even where it could clone the base.
func (b *Builder) precompressWanted() bool {
	return b.cfg.compressOpts() != nil && b.overlayWork()
}

// startPrecompress starts compressing the base into the output
// directory, in the background, when precompressable. It never fails the
// build: a qemu-img that does not start is said, and the convert step then
// converts as before.
func (b *Builder) startPrecompress(_ context.Context, s *state) error {
	if !b.precompressable(s) {
		return nil
	}
	part := filepath.Join(s.outDir, "."+b.cfg.VMName+"."+b.runID+".part")
	args := []string{"convert", "-f", s.baseInfo.Format, "-O", "qcow2"}
	args = append(args, b.cfg.compressOpts()...)
	args = append(args, b.cfg.parallelOpts()...)
	args = append(args, s.base, part)
	argv := append([]string{"qemu-img"}, args...)
	// nice(1) sets the priority before qemu-img makes its threads, which
	// all inherit it; without nice, qemu-img runs at the build's own.
	if n, err := exec.LookPath("nice"); err == nil {
		argv = append([]string{n, "-n", "19"}, argv...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Its own process group, so that a Ctrl-C reaches bake, which stops
	// it; killed if bake dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &precompress{path: part, cmd: cmd, cancel: cancel, started: time.Now(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		cancel()
		os.Remove(part)
		s.ui.Error(fmt.Sprintf("could not start compressing the base disk while the guest boots (%v): the disk is converted after shutdown", err))
		return nil
	}
	how := map[bool]string{true: "zstd", false: "zlib"}[b.cfg.CompressionType == "zstd"]
	s.ui.Say(fmt.Sprintf("compressing the base disk into the output, compressed (%s), while the guest runs (lowest CPU priority): %s", how, strings.Join(argv, " ")))
	base := s.base
	go func() {
		err := cmd.Wait()
		p.took = time.Since(p.started)
		if err != nil {
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				err = fmt.Errorf("%w: %s", err, msg)
			}
			p.err = fmt.Errorf("qemu-img convert of the base disk %s: %w", base, err)
		}
		close(p.done)
	}()
	s.pre = p
	return nil
}

// stop kills qemu-img if it still runs, waits for it, and removes the
// copy unless it was moved into place.
func (p *precompress) stop() {
	p.cancel()
	<-p.done
	os.Remove(p.path)
}

// raisePriority gives qemu-img bake's own nice value back, once the guest
// has exited: every thread it has, and its main thread, from which the
// threads it makes later inherit it. Raising a priority is a privilege
// (CAP_SYS_NICE, or RLIMIT_NICE) an unprivileged bake may lack: the
// error says so, and qemu-img goes on at nice 19.
func (p *precompress) raisePriority() error {
	// getpriority(2) returns 20 - nice on Linux.
	raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return err
	}
	nice := 20 - raw
	pid := p.cmd.Process.Pid
	var errs []error
	for range 2 { // a thread made during the first pass
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		errs = errs[:0]
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("setpriority %d (thread %d of qemu-img %d): %w", nice, tid, pid, err))
			}
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// running reports whether qemu-img still runs.
func (p *precompress) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stopPrecompress is the step's cleanup: on every path, qemu-img is not
// left running and no partial copy is left behind.
func stopPrecompress(_ context.Context, s *state) error {
	if s.pre != nil {
		s.pre.stop()
		s.pre = nil
	}
	return nil
}

func leftPrecompress(s *state) string {
	if s.pre == nil || !s.pre.running() {
		return ""
	}
	pid := s.pre.cmd.Process.Pid
	return fmt.Sprintf("qemu-img process %d compressing the base disk into %s (kill %d)", pid, s.pre.path, pid)
}

// finishPrecompress makes the output out from the compressed copy of the
// base and the working overlay, once qemu has exited. It returns false,
// having said why, when the build must convert as before (the background
// compression failed, or committing into it did); the working disk is then
// an overlay on the base again, as it was. An error is one that leaves the
// working disk unusable, or the build's context ending.
func (b *Builder) finishPrecompress(ctx context.Context, s *state, out string) (bool, error) {
	p := s.pre
	if p.running() {
		t0 := time.Now()
		// Nothing runs beside it now: at the lowest priority, on a
		// loaded machine, it would finish later than today's convert.
		if err := p.raisePriority(); err != nil {
			s.ui.Error(fmt.Sprintf("the background compression stays at the lowest CPU priority: %v", err))
		}
		s.ui.Say("waiting for the background compression of the base disk to finish (now at the build's CPU priority)")
		select {
		case <-p.done:
		case <-ctx.Done():
			return false, fmt.Errorf("wait for the compression of the base disk: %w", context.Cause(ctx))
		}
		s.ui.Say(fmt.Sprintf("the background compression finished %s later", time.Since(t0).Round(100*time.Millisecond)))
	}
	if p.err != nil {
		s.ui.Error(fmt.Sprintf("the background compression failed (%v): converting the disk after shutdown instead", p.err))
		stopPrecompress(ctx, s)
		return false, nil
	}
	fallback := func(what string, err error, rebased bool) (bool, error) {
		if rebased {
			if _, rerr := qemuImg(ctx, "rebase", "-u", "-f", "qcow2", "-b", s.base, "-F", s.baseInfo.Format, s.work); rerr != nil {
				return false, fmt.Errorf("%s: %w; and moving the working disk back onto the base: %w", what, err, rerr)
			}
		}
		s.ui.Error(fmt.Sprintf("%s: %v: converting the disk after shutdown instead", what, err))
		stopPrecompress(ctx, s)
		return false, nil
	}
	t0 := time.Now()
	work, err := diskInfo(ctx, s.work)
	if err != nil {
		return fallback("read the working disk", err, false)
	}
	copyInfo, err := diskInfo(ctx, p.path)
	if err != nil {
		return fallback("read the compressed base", err, false)
	}
	if work.VirtualSize > copyInfo.VirtualSize {
		if _, err := qemuImg(ctx, "resize", "-q", "-f", "qcow2", p.path, strconv.FormatInt(work.VirtualSize, 10)); err != nil {
			return fallback("grow the compressed base", err, false)
		}
	}
	// -u: only the overlay's header changes; the copy has the base's
	// content, so what the overlay reads through it is unchanged.
	if _, err := qemuImg(ctx, "rebase", "-u", "-f", "qcow2", "-b", p.path, "-F", "qcow2", s.work); err != nil {
		return fallback("move the working disk onto the compressed base", err, false)
	}
	// -d: the overlay is removed after, so it is not emptied.
	if _, err := qemuImg(ctx, "commit", "-q", "-d", "-f", "qcow2", s.work); err != nil {
		return fallback("commit the guest's changes into the compressed base", err, true)
	}
	if err := os.Rename(p.path, out); err != nil {
		return fallback("move disk into place", err, true)
	}
	s.ui.Say(fmt.Sprintf("the base disk was compressed while the guest ran (in %s); the guest's changes were committed into it in %s",
		p.took.Round(100*time.Millisecond), time.Since(t0).Round(10*time.Millisecond)))
	s.pre = nil
	return true, nil
}
