package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
)

// TestBootCommandISO installs from an ISO, Packer style: the ISO (iso_url
// + iso_checksum) stops at an ISOLINUX prompt that waits for ever, and
// only the line bake types through QMP boots the guest. The typed line
// carries a token with shifted characters and the HTTP server's address
// rendered from {{ .HTTPIP }}:{{ .HTTPPort }}; the guest's /proc/cmdline
// must hold both, and the guest must reach the server at that address.
// The guest's root file system is the fixture disk, attached as a second
// drive.
func TestBootCommandISO(t *testing.T) {
	iso := isoFixture(t)
	g := fixture(t)
	dir := t.TempDir()
	root := copyBase(t, g.Disk, dir)
	sum := fileSHA256(t, iso)
	outDir := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	b, runID := newBuilder(t, fmt.Sprintf(`
iso_url          = %q
iso_checksum     = "sha256:%s"
disk_size        = "64M"
memory           = 768
ssh_username     = "root"
ssh_timeout      = "4m"
boot_wait        = "0s"
shutdown_command = "poweroff"
output_directory = %q
vm_name          = "disk.qcow2"
boot_key_interval = "250ms"
http_content     = { "/greeting" = "served by bake" }
qemuargs         = [["-drive", "file=%s,if=virtio,format=qcow2"]]
boot_steps = [
  ["bake bake.token=Typed-by-QMP.{{ .Name }}", "typing the kernel arguments"],
  ["<wait> bake.http={{ .HTTPIP }}:{{ .HTTPPort }}<enter>", "pressing enter"],
]
`, iso, sum, outDir, root), builder.Options{})
	// Type once the prompt is up rather than after a guessed boot_wait:
	// keys typed before the loader reads them are lost. Keys typed faster
	// than a starved guest reads them overflow the PS/2 keyboard's 16-byte
	// queue and are lost too (seen at 100ms on a host with load 15), hence
	// the slower boot_key_interval.
	b.beforeType = func(ctx context.Context, console string) error {
		for {
			if data, _ := os.ReadFile(console); strings.Contains(string(data), "boot:") {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	ui := newUI(t)
	var cmdline, greeting string
	art, err := b.Build(ctx, ui, func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		var err error
		if cmdline, err = run(ctx, t, comm, "cat /proc/cmdline"); err != nil {
			return err
		}
		greeting, err = run(ctx, t, comm, `addr=$(sed -n 's/.*bake\.http=\([^ ]*\).*/\1/p' /proc/cmdline)
exec 3<>/dev/tcp/${addr%:*}/${addr#*:}
printf 'GET /greeting HTTP/1.0\r\n\r\n' >&3
tail -n 1 <&3`)
		return err
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("guest /proc/cmdline: %s", cmdline)
	for _, want := range []string{"bake.token=Typed-by-QMP.disk.qcow2 ", "bake.http=10.0.2.2:"} {
		if !strings.Contains(cmdline, want) {
			t.Errorf("the guest's kernel command line %q lacks %q, which only the typed line carries", cmdline, want)
		}
	}
	if greeting != "served by bake" {
		t.Errorf("the guest got %q from the HTTP server named in the typed line", greeting)
	}
	text := ui.text()
	for _, want := range []string{"boot step 1/2: typing the kernel arguments", "boot step 2/2: pressing enter"} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if strings.Contains(text, "Typed-by") {
		t.Errorf("the typed text reached the output")
	}
	if _, err := os.Stat(art.Files[0]); err != nil {
		t.Errorf("artifact: %v", err)
	}
	assertNoLeftovers(t, runID, "")
}

// TestCancelWhileTyping: cancelling the build while the boot command is
// typed (here during its <wait10m>) stops typing at once, stops qemu and
// removes everything; SSH is never waited for.
func TestCancelWhileTyping(t *testing.T) {
	iso := isoFixture(t)
	outDir := filepath.Join(t.TempDir(), "out")
	b, runID := newBuilder(t, fmt.Sprintf(`
iso_url          = %q
iso_checksum     = "none"
disk_size        = "64M"
ssh_username     = "root"
boot_wait        = "0s"
output_directory = %q
boot_command     = ["bake<wait10m><enter>"]
`, iso, outDir), builder.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ui := newUI(t)
	go func() {
		for !strings.Contains(ui.text(), "typing the boot command") {
			sleepMs(100)
		}
		sleepMs(1000)
		cancel()
	}()
	_, err := b.Build(ctx, ui, func(context.Context, provisioners.Communicator, provisioners.BuildInfo) error {
		return fmt.Errorf("hook ran")
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if strings.Contains(ui.text(), "waiting for SSH") {
		t.Errorf("the build waited for SSH after the cancel")
	}
	assertNoLeftovers(t, runID, outDir)
}
