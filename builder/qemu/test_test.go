package qemu

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
)

// TestTesterRemovesMachine boots a disk as a build's test machine (here
// the fixture's disk, standing for an output) and checks what a failing
// test and a guest that never answers leave: Test returns the test's own
// error as it is, or the SSH wait's; no qemu process or temporary
// directory remains; the disk is not written.
func TestTesterRemovesMachine(t *testing.T) {
	g := fixture(t)
	dir := t.TempDir()
	disk := copyBase(t, g.Disk, dir)
	sum := fileSHA256(t, disk)
	art := &artifacts.Artifact{Builder: "qemu", ID: disk, Files: []string{disk}, State: map[string]string{"format": "qcow2"}}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	t.Run("failing test", func(t *testing.T) {
		b, runID := newBuilder(t, guestSrc(g, disk, filepath.Join(dir, "out"), `ssh_timeout = "4m"`), builder.Options{})
		if err := b.CanTest(); err != nil {
			t.Fatal(err)
		}
		failed := errors.New("the test failed on purpose")
		var cmdline string
		err := b.Test(ctx, newUI(t), art, func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
			out, err := run(ctx, t, comm, "cat /proc/cmdline; test ! -e /root/provisioned")
			cmdline = out
			if err != nil {
				return err
			}
			return failed
		})
		if !errors.Is(err, failed) {
			t.Errorf("Test: %v, want the hook's error", err)
		}
		if !strings.Contains(cmdline, "root=LABEL=bakeroot") {
			t.Errorf("the test machine's kernel command line %q: not booted with the build's qemuargs", cmdline)
		}
		assertNoLeftovers(t, runID, filepath.Join(dir, "out"))
	})

	t.Run("guest never answers", func(t *testing.T) {
		src := strings.Replace(guestSrc(g, disk, filepath.Join(dir, "out"), `ssh_timeout = "10s"`), "quiet", "init=/bin/false", 1)
		b, runID := newBuilder(t, src, builder.Options{})
		called := false
		err := b.Test(ctx, newUI(t), art, func(context.Context, provisioners.Communicator, provisioners.BuildInfo) error {
			called = true
			return nil
		})
		if err == nil || called || !strings.Contains(err.Error(), "SSH") {
			t.Errorf("Test: %v (hook called %v), want an SSH timeout", err, called)
		}
		assertNoLeftovers(t, runID, filepath.Join(dir, "out"))
	})

	if got := fileSHA256(t, disk); got != sum {
		t.Errorf("the tested disk changed: sha256 %s, was %s", got, sum)
	}
	b, _ := newBuilder(t, guestSrc(g, disk, filepath.Join(dir, "out"), `communicator = "none"`), builder.Options{})
	if err := b.CanTest(); err == nil {
		t.Errorf("CanTest accepted a build without a communicator")
	}
}
