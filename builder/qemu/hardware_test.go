package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
)

// uefiFixture returns the guest on a GPT disk with an EFI system partition
// (systemd-boot), made by scripts/qemu-uefi-fixture.sh.
func uefiFixture(t testing.TB) string {
	t.Helper()
	fixture(t)
	cmd := exec.Command("../../scripts/qemu-uefi-fixture.sh")
	cmd.Env = append(os.Environ(), "BAKE_QEMU_FIXTURE="+fixtureDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/qemu-uefi-fixture.sh: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "disk.qcow2")
}

// swtpmOf lists the swtpm processes of a run (their state directory is in
// the run's temporary directory).
func swtpmOf(runID string) []string {
	out, err := exec.Command("pgrep", "-af", "bake-qemu-"+runID+"-").Output()
	if err != nil {
		return nil
	}
	var procs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(l, "swtpm") {
			procs = append(procs, l)
		}
	}
	return procs
}

// TestBuildUEFIWithTPM boots the UEFI fixture through OVMF (efi_boot) with
// a vTPM (swtpm), a named CPU model and a 1-socket, 2-core topology under
// TCG; the provisioner finds the guest booted through UEFI, its TPM 2.0 at
// /dev/tpm0 and the topology. Afterwards no qemu, no swtpm and no
// temporary directory remain, and Debian's OVMF_VARS is unchanged.
func TestBuildUEFIWithTPM(t *testing.T) {
	disk := uefiFixture(t)
	dir := t.TempDir()
	base := copyBase(t, disk, dir)
	varsSum := fileSHA256(t, DefaultEFIFirmwareVars)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	out := filepath.Join(dir, "out")
	b, runID := newBuilder(t, fmt.Sprintf(`
iso_url          = %q
iso_checksum     = "none"
disk_image       = true
memory           = 768
ssh_username     = "root"
boot_wait        = "0s"
ssh_timeout      = "8m"
output_directory = %q
vm_name          = "disk.qcow2"
efi_boot         = true
vtpm             = true
cpu_model        = "Nehalem"
sockets          = 1
cores            = 2
threads          = 1
`, base, out), builder.Options{})
	if b.cfg.CPUs != 2 {
		t.Fatalf("cpus = %d, want 2 (sockets*cores*threads)", b.cfg.CPUs)
	}
	ui := newUI(t)
	var tmpDuring string
	t0 := time.Now()
	_, err := b.Build(ctx, ui, func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		t.Logf("SSH ready %s after start", time.Since(t0).Round(time.Second))
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), "bake-qemu-"+runID+"-*"))
		if len(m) == 1 {
			tmpDuring = m[0]
			if fi, err := os.Stat(filepath.Join(m[0], "tpm")); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("swtpm state directory: %v %v, want mode 0700", fi, err)
			}
			if _, err := os.Stat(filepath.Join(m[0], "efivars.fd")); err != nil {
				t.Errorf("per-build UEFI variable store: %v", err)
			}
		}
		if len(swtpmOf(runID)) != 1 {
			t.Errorf("swtpm processes of the run while it boots: %v", swtpmOf(runID))
		}
		got, err := run(ctx, t, comm, `test -d /sys/firmware/efi && echo efi
test -c /dev/tpm0 && echo tpm0
cat /sys/class/tpm/tpm0/tpm_version_major
nproc
lscpu | sed -n 's/^\(Socket(s)\|Core(s) per socket\|Thread(s) per core\): *//p'
grep -m1 '^model name' /proc/cpuinfo`)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(got), "\n")
		want := []string{"efi", "tpm0", "2", "2"}
		for i, w := range want {
			if i >= len(lines) || strings.TrimSpace(lines[i]) != w {
				return fmt.Errorf("guest reports %q, want lines %q first", got, want)
			}
		}
		// lscpu's order is threads, cores, sockets.
		if len(lines) < 8 || strings.Join(lines[4:7], " ") != "1 2 1" {
			return fmt.Errorf("lscpu topology (threads, cores, sockets) in %q, want 1 2 1", got)
		}
		if !strings.Contains(lines[7], "Nehalem") {
			return fmt.Errorf("cpu model %q, want Nehalem", lines[7])
		}
		return nil
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("UEFI build took %s", time.Since(t0).Round(time.Second))
	if !strings.Contains(ui.text(), "started swtpm (TPM 2.0") || !strings.Contains(ui.text(), "booting through UEFI") {
		t.Errorf("no swtpm or UEFI message:\n%s", ui.text())
	}
	if tmpDuring == "" {
		t.Errorf("the build's temporary directory was not found while it ran")
	} else if _, err := os.Stat(tmpDuring); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s remains: %v", tmpDuring, err)
	}
	if p := swtpmOf(runID); len(p) > 0 {
		t.Errorf("swtpm remains: %v", p)
	}
	if got := fileSHA256(t, DefaultEFIFirmwareVars); got != varsSum {
		t.Errorf("%s changed", DefaultEFIFirmwareVars)
	}
	assertNoLeftovers(t, runID, "")
}

// TestTPMFailurePaths: whether swtpm dies before qemu starts or qemu
// fails to start, the build fails, swtpm is stopped and its state and the
// temporary directory are gone.
func TestTPMFailurePaths(t *testing.T) {
	if _, err := exec.LookPath(SwtpmBinary); err != nil {
		t.Fatalf("%s is not installed: run scripts/setup.sh", SwtpmBinary)
	}
	for _, tc := range []struct {
		name, extra string
		kill        bool
		want        string
	}{
		{name: "swtpm killed", kill: true, want: "qemu exited at start"},
		{name: "qemu fails to start", extra: `qemuargs = [["-no-such-switch"]]`, want: "no-such-switch"},
		{name: "qemu binary missing", extra: `qemu_binary = "/nonexistent/qemu-system-x86_64"`, want: "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base := filepath.Join(dir, "base.qcow2")
			if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", base, "64M").CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			out := filepath.Join(dir, "out")
			b, runID := newBuilder(t, fmt.Sprintf(`
iso_url          = %q
iso_checksum     = "none"
disk_image       = true
ssh_username     = "root"
output_directory = %q
efi_boot         = true
vtpm             = true
%s
`, base, out, tc.extra), builder.Options{})
			var pid int
			tpmStarted = func(p *os.Process) {
				pid = p.Pid
				if tc.kill {
					p.Signal(syscall.SIGKILL)
					for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
						sleepMs(20)
					}
				}
			}
			defer func() { tpmStarted = nil }()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			_, err := b.Build(ctx, newUI(t), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("build error %v, want one mentioning %q", err, tc.want)
			}
			if pid == 0 {
				t.Fatal("swtpm never started")
			}
			if p := swtpmOf(runID); len(p) > 0 {
				t.Errorf("swtpm remains: %v", p)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(st), ") Z") {
					t.Errorf("swtpm %d still runs", pid)
				}
			}
			assertNoLeftovers(t, runID, out)
		})
	}
}
