package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
)

// guestSrc is the HCL body of a qemu source that boots the fixture guest
// from base with its kernel and initrd, logging in as root with the
// temporary key carried by the NoCloud seed.
func guestSrc(g guest, base, outDir, extra string) string {
	if !strings.Contains(extra, "iso_checksum") {
		extra += "\niso_checksum = \"none\"\n"
	}
	return fmt.Sprintf(`
iso_url          = %q
disk_image       = true
memory           = 768
ssh_username     = "root"
boot_wait        = "0s"
output_directory = %q
vm_name          = "disk.qcow2"
qemuargs = [
  ["-kernel", %q],
  ["-initrd", %q],
  ["-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"],
]
%s`, base, outDir, g.Kernel, g.Initrd, extra)
}

// run runs cmd on the guest and returns its stdout, failing the test on
// a transport error or a non-zero status.
func run(ctx context.Context, t *testing.T, comm provisioners.Communicator, cmd string) (string, error) {
	var stdout, stderr bytes.Buffer
	status, err := comm.Run(ctx, &provisioners.Cmd{Command: cmd, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return "", fmt.Errorf("%s: %w", cmd, err)
	}
	if status != 0 {
		return "", fmt.Errorf("%s: exit status %d: %s", cmd, status, stderr.String())
	}
	return stdout.String(), nil
}

// TestBuildEndToEnd boots the Debian fixture under TCG, provisions it
// over SSH (commands, an upload), shuts it down with shutdown_command and
// writes a compressed qcow2; then builds again from that output (overlay,
// no shutdown_command: the power button) and finds the provisioned files.
// The base disks are unchanged. The first build also attaches a floppy and
// an additional disk, which the guest sees, and which the output and the
// artifact hold as disk.qcow2-1.
func TestBuildEndToEnd(t *testing.T) {
	g := fixture(t)
	dir := t.TempDir()
	base := copyBase(t, g.Disk, dir)
	baseSum := fileSHA256(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	out1 := filepath.Join(dir, "out1")
	b, runID := newBuilder(t, guestSrc(g, base, out1, `
iso_checksum     = "sha256:`+baseSum+`"
disk_size        = "3G"
disk_compression = true
ssh_timeout      = "4m"
shutdown_command = "poweroff"
shutdown_timeout = "2m"
http_content     = { "/greeting" = "served by bake" }
disk_additional_size = ["64M"]
floppy_label     = "BAKEFLOPPY"
floppy_content   = { "ks.cfg" = "typed by nobody", "drivers/readme.txt" = "a floppy dir" }
`), builder.Options{})
	// The guest learns the HTTP server's address from its kernel command
	// line, written with Packer's {{ .HTTPIP }}:{{ .HTTPPort }}.
	b.cfg.QemuArgs[2][1] += " bake.http={{ .HTTPIP }}:{{ .HTTPPort }}"
	ui := newUI(t)
	const uploaded = "hello from the build host\n"
	var info provisioners.BuildInfo
	t0 := time.Now()
	art, err := b.Build(ctx, ui, func(ctx context.Context, comm provisioners.Communicator, bi provisioners.BuildInfo) error {
		info = bi
		t.Logf("SSH ready %s after start", time.Since(t0).Round(time.Second))
		if _, err := run(ctx, t, comm, "echo provisioned-by-bake > /root/provisioned && sync"); err != nil {
			return err
		}
		if err := comm.Upload(ctx, "/root/uploaded.txt", strings.NewReader(uploaded), 0o600); err != nil {
			return err
		}
		// The additional disk is the second virtio disk, and the floppy
		// reads back with its label and files.
		got, err := run(ctx, t, comm, `echo vdb $(lsblk -bdno SIZE /dev/vdb); modprobe floppy; udevadm settle; mkdir -p /mnt/fd
mount -t vfat -o ro /dev/fd0 /mnt/fd && cat /mnt/fd/ks.cfg /mnt/fd/drivers/readme.txt; echo; blkid -o value -s LABEL /dev/fd0; umount /mnt/fd`)
		if err != nil {
			return err
		}
		if want := "vdb 67108864\ntyped by nobodya floppy dir\nBAKEFLOPPY\n"; got != want {
			return fmt.Errorf("the guest sees the extra disk and floppy as %q, want %q", got, want)
		}
		got, err = run(ctx, t, comm, "cat /root/uploaded.txt; stat -c %a /root/uploaded.txt; df -m --output=size / | tail -1")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(got, uploaded+"600\n") {
			return fmt.Errorf("uploaded file reads %q", got)
		}
		got, err = run(ctx, t, comm, `addr=$(sed -n 's/.*bake\.http=\([^ ]*\).*/\1/p' /proc/cmdline)
exec 3<>/dev/tcp/${addr%:*}/${addr#*:}
printf 'GET /greeting HTTP/1.0\r\n\r\n' >&3
tail -n 1 <&3`)
		if err != nil {
			return err
		}
		if got != "served by bake" {
			return fmt.Errorf("the guest got %q from the HTTP server", got)
		}
		status, err := comm.Run(ctx, &provisioners.Cmd{Command: "exit 3"})
		if err != nil || status != 3 {
			return fmt.Errorf("exit 3: status %d, %v", status, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("first build took %s", time.Since(t0).Round(time.Second))

	outDisk := filepath.Join(out1, "disk.qcow2")
	extraDisk := outDisk + "-1"
	if art.ID != outDisk || len(art.Items) != 2 || !slices.Equal(art.Files, []string{outDisk, extraDisk}) {
		t.Fatalf("artifact %+v", art)
	}
	if it := art.Items[1]; it.Path != extraDisk || it.Format != "qcow2" || it.Digest != "sha256:"+fileSHA256(t, extraDisk) {
		t.Errorf("artifact item of the additional disk %+v", it)
	}
	if img := qemuInfo(t, extraDisk); img.Format != "qcow2" || img.VirtualSize != 64<<20 {
		t.Errorf("additional disk %+v", img)
	}
	it := art.Items[0]
	if it.Path != outDisk || it.Format != "qcow2" || it.Digest != "sha256:"+fileSHA256(t, outDisk) {
		t.Errorf("artifact item %+v", it)
	}
	if fi, err := os.Stat(outDisk); err != nil || fi.Size() != it.Size {
		t.Errorf("artifact size %d, file %v %v", it.Size, fi, err)
	}
	if art.Parent == nil || art.Parent.DiskPath != base || art.Parent.DiskSHA256 != baseSum {
		t.Errorf("artifact parent %+v, want %s %s", art.Parent, base, baseSum)
	}
	if got := fileSHA256(t, base); got != baseSum {
		t.Errorf("base disk changed: sha256 %s, was %s", got, baseSum)
	}
	if info.Host != "127.0.0.1" || info.Port == 0 || info.User != "root" || !strings.HasPrefix(info.SSHPublicKey, "ssh-ed25519 ") || info.SSHPrivateKey == "" {
		t.Errorf("build info %+v", info)
	}
	img := qemuInfo(t, outDisk)
	if img.Format != "qcow2" || img.VirtualSize != 3<<30 || img.BackingFile != "" {
		t.Errorf("output image %+v", img)
	}
	ents, _ := os.ReadDir(out1)
	if len(ents) != 2 {
		t.Errorf("output directory holds %d entries, want only the two disks", len(ents))
	}
	if !strings.Contains(ui.text(), "qemu exited") {
		t.Errorf("no graceful shutdown reported:\n%s", ui.text())
	}
	assertNoLeftovers(t, runID, "")

	// Boot the output: a second build over it (overlay, power button).
	outSum := fileSHA256(t, outDisk)
	out2 := filepath.Join(dir, "out2")
	b2, runID2 := newBuilder(t, guestSrc(g, outDisk, out2, `
use_backing_file = true
ssh_timeout      = "4m"
`), builder.Options{RunID: runID + "b"})
	ui2 := newUI(t)
	art2, err := b2.Build(ctx, ui2, func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		got, err := run(ctx, t, comm, "cat /root/provisioned /root/uploaded.txt")
		if err != nil {
			return err
		}
		if got != "provisioned-by-bake\n"+uploaded {
			return fmt.Errorf("provisioned files read %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("second build: %v", err)
	}
	if !strings.Contains(ui2.text(), "power-button") {
		t.Errorf("second build did not use the power button:\n%s", ui2.text())
	}
	if img := qemuInfo(t, art2.ID); img.BackingFile != outDisk {
		t.Errorf("overlay output backing file %q, want %s", img.BackingFile, outDisk)
	}
	if got := fileSHA256(t, outDisk); got != outSum {
		t.Errorf("first output changed when used as a base")
	}
	assertNoLeftovers(t, runID2, "")
}

func qemuInfo(t *testing.T, path string) imageInfo {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info imageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// TestBuildSSHNeverAnswers: a guest whose init fails never answers SSH;
// the build fails after ssh_timeout with the cause and the console tail,
// and leaves no qemu, no temporary directory and no output directory.
func TestBuildSSHNeverAnswers(t *testing.T) {
	g := fixture(t)
	dir := t.TempDir()
	outDir := filepath.Join(dir, "out")
	src := strings.Replace(guestSrc(g, g.Disk, outDir, `
use_backing_file = true
ssh_timeout      = "20s"
`), "console=ttyS0 quiet", "console=ttyS0 init=/bin/false", 1)
	b, runID := newBuilder(t, src, builder.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	hooked := false
	_, err := b.Build(ctx, newUI(t), func(context.Context, provisioners.Communicator, provisioners.BuildInfo) error {
		hooked = true
		return nil
	})
	if err == nil || hooked {
		t.Fatalf("build succeeded (hook ran: %v)", hooked)
	}
	msg := err.Error()
	t.Logf("failed after %s: %v", time.Since(t0).Round(time.Second), err)
	for _, want := range []string{"no SSH on 127.0.0.1:", "after 20s", "last cause:", "guest serial console", "init"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if time.Since(t0) > 90*time.Second {
		t.Errorf("took %s for a 20s ssh_timeout", time.Since(t0))
	}
	assertNoLeftovers(t, runID, outDir)
}

// TestShutdownForced: without a communicator the build presses the power
// button; a guest that ignores it (here: its kernel panicked) is stopped
// by force after shutdown_timeout, with a warning, and the disk is still
// converted once qemu has exited.
func TestShutdownForced(t *testing.T) {
	g := fixture(t)
	outDir := filepath.Join(t.TempDir(), "out")
	src := strings.Replace(guestSrc(g, g.Disk, outDir, `
use_backing_file = true
communicator     = "none"
shutdown_timeout = "3s"
format           = "qcow2"
`), "quiet", "init=/bin/false", 1)
	src = strings.Replace(src, `ssh_username     = "root"`, "", 1)
	b, runID := newBuilder(t, src, builder.Options{})
	ui := newUI(t)
	t0 := time.Now()
	art, err := b.Build(context.Background(), ui, func(_ context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		if comm != nil {
			return fmt.Errorf("communicator %T with communicator = none", comm)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("took %s", time.Since(t0).Round(time.Second))
	text := ui.text()
	for _, want := range []string{"power-button press", "error: qemu did not exit within 3s (shutdown_timeout)", "stopping it by force"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if img := qemuInfo(t, art.ID); img.Format != "qcow2" {
		t.Errorf("output %+v", img)
	}
	assertNoLeftovers(t, runID, "")
}

// TestProvisionerFails: a failing provisioner fails the build with its
// error; qemu is stopped and the output directory removed.
func TestProvisionerFails(t *testing.T) {
	g := fixture(t)
	outDir := filepath.Join(t.TempDir(), "out")
	src := strings.Replace(guestSrc(g, g.Disk, outDir, "use_backing_file = true\ncommunicator = \"none\"\n"), "quiet", "init=/bin/false", 1)
	src = strings.Replace(src, `ssh_username     = "root"`, "", 1)
	b, runID := newBuilder(t, src, builder.Options{})
	_, err := b.Build(context.Background(), newUI(t), func(context.Context, provisioners.Communicator, provisioners.BuildInfo) error {
		return fmt.Errorf("shell provisioner: exit status 1")
	})
	if err == nil || !strings.Contains(err.Error(), "provision: shell provisioner: exit status 1") {
		t.Fatalf("error %v", err)
	}
	assertNoLeftovers(t, runID, outDir)
}
