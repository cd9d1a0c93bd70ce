package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/ui"
)

var _ builder.Tester = (*Builder)(nil)

// CanTest refuses a build without a communicator to run tests through.
func (b *Builder) CanTest() error {
	if b.cfg.Type != communicator.SSH {
		return fmt.Errorf(`qemu: tests run through SSH: communicator = %q cannot run them`, b.cfg.Type)
	}
	return nil
}

// Test boots the output disk on its own, with the build's machine, its
// firmware, vTPM and qemuargs (a kernel given there included), through a
// qcow2 overlay in a temporary directory, so that the artifact is never
// written (its sha256 stays what the manifest says); a fresh temporary
// SSH key reaches the guest on a new cloud-init CD, as during the build.
// The boot_command is not typed: it drives an installer, and the disk
// boots on its own. The qemu process, the overlay and the directory are
// removed on every path.
func (b *Builder) Test(ctx context.Context, ui ui.UI, art *artifacts.Artifact, hook builder.Hook) error {
	if len(art.Files) == 0 {
		return errors.New("qemu: the artifact has no disk to boot")
	}
	disk := art.Files[0]
	format := art.State["format"]
	if format == "" {
		format = b.cfg.Format
	}
	if _, err := os.Stat(disk); err != nil {
		return fmt.Errorf("qemu: the disk to test: %w", err)
	}
	cfg := *b.cfg
	cfg.DiskImage, cfg.UseBackingFile = true, true // boot the overlay, no ISO
	cfg.QMPEnable = false                          // the user's monitor belongs to the build
	tb := *b
	tb.cfg = &cfg
	tb.runID = b.runID + "-test"
	tb.beforeType = nil

	s := &state{ui: ui}
	steps := []buildStep{
		{Name: "create temporary directory", Run: tb.makeTemp, Cleanup: removeTemp, Leftover: leftTemp},
		{Name: "create test disk", Run: func(ctx context.Context, s *state) error {
			// Whatever the build would put beside its output goes into the
			// temporary directory: the output directory is the artifact's.
			s.outDir = s.tmpDir
			s.base = disk
			s.work = filepath.Join(s.tmpDir, "test-overlay.qcow2")
			if _, err := qemuImg(ctx, "create", "-q", "-f", "qcow2", "-F", format, "-b", disk, s.work); err != nil {
				return fmt.Errorf("create the test overlay on %s: %w", disk, err)
			}
			s.ui.Say(fmt.Sprintf("booting %s through a temporary overlay (the artifact is not written)", disk))
			return nil
		}},
		{Name: "prepare SSH key", Run: tb.prepareKey},
		{Name: "create CD", Run: tb.createCD},
		{Name: "start HTTP server", Run: tb.startHTTP, Cleanup: stopHTTP},
		{Name: "start qemu", Run: tb.startQemu, Cleanup: stopQemu, Leftover: leftQemu},
		{Name: "wait for SSH", Run: tb.waitSSH, Cleanup: closeComm},
		{Name: "run tests", Run: func(ctx context.Context, s *state) error { return hook(ctx, s.comm, tb.info(s)) }},
	}
	steps = tb.hardwareSteps(steps)
	return builder.RunSteps(ctx, builder.TestOptions(b.opts), ui, s, steps)
}
