package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/bake-tool/bake/provisioners"
)

// TestFastPathOutput builds testdata/qemu/fast.pkr.hcl with bake build:
// a zstd-compressed qcow2, the base compressed by a parallel qemu-img
// convert while the guest runs and the guest's changes committed into it,
// hashed once. The output must be what a user would check: qemu-img check
// finds no errors, its compression type is zstd, the checksum
// post-processor's sha256 file matches sha256sum of the output (and
// `sha256sum -c` passes in its directory), the manifest names the same
// digest, and the disk boots with the provisioned file in it.
func TestFastPathOutput(t *testing.T) {
	g := fixture(t)
	bin := bakebin.Path(t)
	template, err := filepath.Abs("../../testdata/qemu/fast.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := copyBase(t, g.Disk, dir)
	out := filepath.Join(dir, "out")
	manifest := filepath.Join(dir, "m.json")
	cmd := exec.Command(bin, "build", "-color=false", "-no-cache", "-manifest", manifest,
		"-var", "fixture="+filepath.Dir(g.Disk), "-var", "base="+base, "-var", "output="+out, template)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	t0 := time.Now()
	err = cmd.Run()
	text := buf.String()
	t.Logf("bake build took %s:\n%s", time.Since(t0).Round(time.Second), text)
	if err != nil {
		t.Fatalf("bake build: %v", err)
	}
	jobs := "-m " + strconv.Itoa(convertJobs()) + " -W"
	if !strings.Contains(text, "compressed (zstd)") || !strings.Contains(text, jobs) || !strings.Contains(text, "compression_type=zstd") {
		t.Errorf("the convert step did not say it compresses with zstd in parallel (%q):\n%s", jobs, text)
	}

	disk := filepath.Join(out, "fast", "fast.qcow2")
	check, err := exec.Command("qemu-img", "check", disk).CombinedOutput()
	if err != nil || !strings.Contains(string(check), "No errors were found") {
		t.Errorf("qemu-img check %s: %v\n%s", disk, err, check)
	}
	info, err := exec.Command("qemu-img", "info", disk).Output()
	if err != nil || !strings.Contains(string(info), "compression type: zstd") {
		t.Errorf("qemu-img info %s: %v\n%s", disk, err, info)
	}
	// The VM ran on an overlay on the base (no copy of it), and the
	// output is one standalone image all the same.
	if !strings.Contains(text, "creating a qcow2 overlay on "+base+" as the working disk") {
		t.Errorf("the build did not say it ran on an overlay on %s:\n%s", base, text)
	}
	// The base was compressed into the output while the guest ran, and
	// the guest's changes committed into it after shutdown
	// (precompress.go); the checks below and the boot are of that output.
	if !strings.Contains(text, "compressing the base disk into the output, compressed (zstd), while the guest runs") ||
		!strings.Contains(text, "the guest's changes were committed into it") {
		t.Errorf("the build did not compress the base while the guest ran and commit into it:\n%s", text)
	}
	if img := qemuInfo(t, disk); img.BackingFile != "" {
		t.Errorf("the output has the backing file %q; want a standalone image", img.BackingFile)
	}

	sumOut, err := exec.Command("sha256sum", disk).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(string(sumOut))[0]
	file, err := os.ReadFile(filepath.Join(out, "fast", "sha256.checksum"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(file); got != want+"\tfast.qcow2\n" {
		t.Errorf("sha256.checksum reads %q, sha256sum says %s", got, want)
	}
	c := exec.Command("sha256sum", "-c", "sha256.checksum")
	c.Dir = filepath.Join(out, "fast")
	if msg, err := c.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c sha256.checksum: %v\n%s", err, msg)
	}
	md5Out, _ := exec.Command("md5sum", disk).Output()
	md5File, _ := os.ReadFile(filepath.Join(out, "fast", "md5.checksum"))
	if f := strings.Fields(string(md5Out)); len(f) == 0 || string(md5File) != f[0]+"\tfast.qcow2\n" {
		t.Errorf("md5.checksum reads %q, md5sum says %q", md5File, md5Out)
	}
	builds := manifesttest.Builds(t, manifest)
	if len(builds) != 1 {
		t.Fatalf("manifest builds %+v", builds)
	}
	found := false
	for _, a := range builds[0].Artifacts {
		if a.ExternalIdentifier == disk {
			found = true
			if a.Digest != "sha256:"+want {
				t.Errorf("manifest names the disk %s, sha256sum says %s", a.Digest, want)
			}
		}
	}
	if !found {
		t.Errorf("manifest artifacts %+v lack the disk %s", builds[0].Artifacts, disk)
	}

	// The output boots, without the base it was built from: a build over
	// it (an overlay, so it stays as it is) finds the provisioned file.
	if err := os.Remove(base); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	b, runID := newBuilder(t, guestSrc(g, disk, filepath.Join(dir, "boot"), `
use_backing_file = true
ssh_timeout      = "5m"
`), builder.Options{})
	_, err = b.Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		got, err := run(ctx, t, comm, "cat /root/fast")
		if err != nil {
			return err
		}
		if got != "written-on-the-fast-path\n" {
			return fmt.Errorf("/root/fast reads %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("booting the output: %v", err)
	}
	if got := fileSHA256(t, disk); got != want {
		t.Errorf("the output changed when booted as a base")
	}
	assertNoLeftovers(t, runID, "")
}
