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
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/gc"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
)

// uefiFixture returns the guest on a GPT disk with an EFI system partition
// (systemd-boot), made by scripts/qemu-uefi-fixture.sh.
func uefiFixture(t testing.TB) string {
	t.Helper()
	g := fixture(t)
	cmd := exec.Command("../../scripts/qemu-uefi-fixture.sh")
	cmd.Env = append(os.Environ(), "BAKE_QEMU_FIXTURE="+g.Dir)
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
// a vTPM (swtpm), a named CPU model, a 1-socket, 2-core topology and the
// user's QMP monitor (qmp_enable) under TCG; the provisioner finds the guest booted through UEFI, its TPM 2.0 at
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
qmp_enable       = true
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
		if err := qmpExecute(ctx, filepath.Join(out, "disk.qcow2.monitor"), "query-status"); err != nil {
			t.Errorf("qmp_enable's monitor: %v", err)
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
	if ents, _ := os.ReadDir(out); len(ents) != 1 {
		t.Errorf("output directory holds %d entries, want only the disk (the QMP socket gone)", len(ents))
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

// TestTPMFailurePaths: whether swtpm dies before qemu starts, qemu fails
// to start or the build is cancelled, the build fails, swtpm is stopped and its state and the
// temporary directory are gone.
func TestTPMFailurePaths(t *testing.T) {
	if _, err := exec.LookPath(SwtpmBinary); err != nil {
		t.Fatalf("%s is not installed: run scripts/setup.sh", SwtpmBinary)
	}
	for _, tc := range []struct {
		name, extra string
		kill, stop  bool
		want        string
	}{
		{name: "swtpm killed", kill: true, want: "tpm"},
		{name: "cancelled", stop: true, want: "context canceled"},
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
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var pid int
			tpmStarted = func(p *os.Process) {
				if tc.stop {
					cancel()
				}
				pid = p.Pid
				if tc.kill {
					p.Signal(syscall.SIGKILL)
					for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
						sleepMs(20)
					}
				}
			}
			defer func() { tpmStarted = nil }()
			_, err := b.Build(ctx, newUI(t), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("build error %v, want one mentioning %q", err, tc.want)
			}
			t.Logf("build error: %v", err)
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

func TestPrepareHardware(t *testing.T) {
	vars := "efi_firmware_vars = \"" + DefaultEFIFirmwareVars + "\"\n"
	configtest.Run(t, "qemu", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "topology", Src: base + "cpus = 4\nsockets = 2\ncores = 2\nthreads = 1\ncpu_model = \"max\""},
		{Name: "topology with room to spare", Src: base + "cpus = 2\nsockets = 2\ncores = 2\nthreads = 1"},
		{Name: "partial topology", Src: base + "cpus = 4\ncores = 2"},
		{Name: "display and vga", Src: base + "display = \"gtk\"\nvga = \"VIRTIO\""},
		{Name: "default display", Src: base + "use_default_display = true"},
		{Name: "efi defaults", Src: base + "efi_boot = true\nvtpm = true\nuse_tpm1 = true"},
		{Name: "efi files imply efi_boot", Src: base + "efi_firmware_code = \"" + DefaultEFIFirmwareCode + "\"\n" + vars},
		{Name: "efi without vars", Src: base + "efi_boot = true\nefi_drop_efivars = true\nefi_firmware_vars = \"missing.fd\""},
		{Name: "secure boot on q35", Src: base + "machine_type = \"q35\"\nefi_firmware_code = \"/usr/share/OVMF/OVMF_CODE_4M.secboot.fd\""},
		{Name: "firmware as pflash", Src: base + "firmware = \"" + DefaultEFIFirmwareCode + "\"\nuse_pflash = true"},
		{Src: base + "cpus = 4\nsockets = 1\ncores = 2\nthreads = 1", Want: "sockets*cores*threads = 1*2*1 = 2 is fewer than cpus = 4", Line: 4},
		{Src: base + "cpus = 3\ncores = 2", Want: "cpus = 3 is not a multiple of cores = 2", Line: 4},
		{Src: base + "cores = 0", Want: `"cores" must be at least 1, not 0`, Line: 4},
		{Src: base + "accelerator = \"tcg\"\ncpu_model = \"host\"", Want: `cpu_model = "host" passes the host's CPU through, which needs KVM`, Line: 5},
		{Src: base + "cpu_model = \"host\"", Want: "needs KVM, which accelerator \"auto\" uses only with BAKE_QEMU_KVM=1", Line: 4, Warning: true},
		{Src: base + "cpu_model = \"\"", Want: `"cpu_model" is empty`, Line: 4},
		{Src: base + "display = \"gtk\"\nuse_default_display = true", Want: "Conflicting options", Line: 5},
		{Src: base + "display = \"curses\"", Want: `display = "curses" would draw on the terminal`, Line: 4},
		{Src: base + "headless = true\ndisplay = \"sdl\"", Want: `display = "sdl" opens a window, but headless = true`, Line: 5},
		{Src: base + "vga = \"cirus\"", Want: `Did you mean "cirrus"?`, Line: 4},
		{Src: base + "firmware = \"nofirmware.fd\"", Want: `there is no file "nofirmware.fd"`, Line: 4},
		{Src: base + "use_pflash = true", Want: `"use_pflash" says how to give qemu the firmware file, so it needs "firmware"`, Line: 4},
		{Src: base + "efi_boot = true\nfirmware = \"" + DefaultEFIFirmwareCode + "\"", Want: `"firmware" and efi_boot both say which firmware`, Line: 5},
		{Src: base + "efi_boot = true\nefi_firmware_code = \"nocode.fd\"", Want: `efi_firmware_code: there is no file "nocode.fd"`, Line: 5},
		{Src: base + "efi_firmware_vars = \"novars.fd\"", Want: `efi_firmware_vars: there is no file "novars.fd"`, Line: 4},
		{Src: base + "efi_boot = false\n" + vars, Want: `"efi_firmware_vars" is the UEFI firmware, but efi_boot = false`, Line: 5},
		{Src: base + "efi_drop_efivars = true", Want: `"efi_drop_efivars" leaves out the UEFI variable store, so it needs efi_boot = true`, Line: 4},
		{Src: base + "efi_boot = true\nefi_firmware_code = \"/usr/share/OVMF/OVMF_CODE_4M.secboot.fd\"", Want: `enforces Secure Boot, which needs SMM and so machine_type = "q35"`, Line: 5},
		{Src: base + "efi_boot = true\nmachine_type = \"pc\"\nefi_firmware_code = \"/usr/share/OVMF/OVMF_CODE_4M.ms.fd\"", Want: `not "pc"`, Line: 5},
		{Src: base + "use_tpm1 = true", Want: `"use_tpm1" picks the TPM version of the emulated TPM, so it needs vtpm = true`, Line: 4},
		{Name: "qmp", Src: base + "qmp_enable = true\nqmp_socket_path = \"/tmp/my.monitor\""},
		{Src: base + "qmp_socket_path = \"/tmp/my.monitor\"", Want: `"qmp_socket_path" is where the QMP monitor listens, so it needs qmp_enable = true`, Line: 4},
		{Src: base + "qmp_enable = true\nqmp_socket_path = \"/" + strings.Repeat("x", 120) + "\"", Want: "A unix socket path has at most 107 bytes", Line: 5},
		{Name: "unknown topology skipped", Src: base + "cores = build.Port\ncpus = 3"},
	})
}

// TestPrepareHardwareSwtpmMissing: vtpm with no swtpm on PATH is refused
// at validate, at the vtpm attribute.
func TestPrepareHardwareSwtpmMissing(t *testing.T) {
	old := SwtpmBinary
	SwtpmBinary = "bake-no-such-swtpm"
	defer func() { SwtpmBinary = old }()
	configtest.Run(t, "qemu", func() templates.Config { return new(Config) }, []configtest.Case{
		{Src: base + "vtpm = true", Want: "vtpm = true needs the TPM emulator bake-no-such-swtpm on PATH", Line: 4},
	})
}

func TestPrepareHardwareDefaults(t *testing.T) {
	var c Config
	configtest.MustPrepare(t, "qemu", base+"sockets = 2\ncores = 2\nthreads = 2\nefi_boot = true", &c)
	if c.CPUs != 8 || c.EFIFirmwareCode != DefaultEFIFirmwareCode || c.EFIFirmwareVars != DefaultEFIFirmwareVars {
		t.Errorf("cpus %d, code %q, vars %q", c.CPUs, c.EFIFirmwareCode, c.EFIFirmwareVars)
	}
	var d Config
	configtest.MustPrepare(t, "qemu", base+"efi_firmware_code = \""+DefaultEFIFirmwareCode+"\"", &d)
	if !d.EFIBoot || d.EFIFirmwareVars != DefaultEFIFirmwareVars {
		t.Errorf("efi_firmware_code does not imply efi_boot: %+v", d.Hardware)
	}
	var e Config
	configtest.MustPrepare(t, "qemu", base, &e)
	if e.Hardware != (Hardware{}) {
		t.Errorf("hardware options without the template setting any: %+v", e.Hardware)
	}
}

// TestHardwareArgs checks the switches each option puts on qemu's
// command line.
func TestHardwareArgs(t *testing.T) {
	tests := []struct {
		name, src, accel string
		tpm              bool
		want, absent     []string // "-switch value" pairs
	}{
		{name: "defaults under tcg", src: "", accel: "tcg",
			want: []string{"-machine pc", "-smp 1", "-m 512M", "-display none"}, absent: []string{"-cpu", "-vga", "-bios", "-tpmdev"}},
		{name: "defaults under kvm", accel: "kvm", want: []string{"-cpu host"}},
		{name: "cpu model and topology", src: "cpu_model = \"Nehalem\"\nsockets = 2\ncores = 2\nthreads = 1", accel: "kvm",
			want: []string{"-cpu Nehalem", "-smp 4,sockets=2,cores=2,threads=1"}},
		{name: "partial topology", src: "cpus = 4\ncores = 2", accel: "tcg", want: []string{"-smp 4,cores=2"}},
		{name: "display and vga", src: "display = \"gtk,gl=on\"\nvga = \"qxl\"", accel: "tcg", want: []string{"-display gtk,gl=on", "-vga qxl"}},
		{name: "default display", src: "use_default_display = true", accel: "tcg", absent: []string{"-display"}},
		{name: "firmware as -bios", src: "firmware = \"" + DefaultEFIFirmwareCode + "\"", accel: "tcg", want: []string{"-bios " + DefaultEFIFirmwareCode}},
		{name: "firmware as pflash", src: "firmware = \"" + DefaultEFIFirmwareCode + "\"\nuse_pflash = true", accel: "tcg",
			want: []string{"-drive file=/tmp/b/firmware.fd,if=pflash,unit=0,format=raw"}, absent: []string{"-bios"}},
		{name: "efi", src: "efi_boot = true", accel: "tcg",
			want: []string{"-drive file=" + DefaultEFIFirmwareCode + ",if=pflash,unit=0,format=raw,readonly=on",
				"-drive file=/tmp/b/efivars.fd,if=pflash,unit=1,format=raw"}},
		{name: "efi without vars", src: "efi_boot = true\nefi_drop_efivars = true", accel: "tcg",
			absent: []string{"-drive file=/tmp/b/efivars.fd,if=pflash,unit=1,format=raw"}},
		{name: "secure boot", src: "machine_type = \"q35\"\nefi_firmware_code = \"/usr/share/OVMF/OVMF_CODE_4M.secboot.fd\"", accel: "tcg",
			want: []string{"-machine q35,smm=on", "-global driver=cfi.pflash01,property=secure,value=on"}},
		{name: "vtpm", src: "vtpm = true", accel: "tcg", tpm: true,
			want: []string{"-chardev socket,id=chrtpm,path=/tmp/b/tpm.sock", "-tpmdev emulator,id=tpm0,chardev=chrtpm", "-device tpm-tis,tpmdev=tpm0"}},
		{name: "qmp_enable", src: "qmp_enable = true", accel: "tcg",
			want: []string{"-qmp unix:/out/vm.monitor,server=on,wait=off", "-qmp unix:/tmp/b/qmp.sock,server=on,wait=off"}},
		{name: "qemuargs still win", src: "cpu_model = \"max\"\nqemuargs = [[\"-cpu\", \"qemu64\"], [\"-smp\", \"3\"]]", accel: "tcg",
			want: []string{"-cpu qemu64", "-smp 3"}, absent: []string{"-cpu max"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newBuilder(t, base+tc.src, builder.Options{})
			s := &state{tmpDir: "/tmp/b", work: "/out/.w", outDir: "/out", console: "/tmp/b/console.log",
				port: &heldPort{Port: 2222}, accel: tc.accel}
			if b.cfg.EFIBoot && !b.cfg.EFIDropEFIVars {
				s.efiVars = "/tmp/b/efivars.fd"
			}
			if b.cfg.UsePflash {
				s.firmware = "/tmp/b/firmware.fd"
			}
			if tc.tpm {
				s.tpm = &swtpm{ctrl: "/tmp/b/tpm.sock"}
			}
			if b.cfg.QMPEnable {
				s.userQMP = "/out/vm.monitor"
			}
			argv, err := b.qemuArgs(s)
			if err != nil {
				t.Fatal(err)
			}
			line := " " + strings.Join(argv, " ") + " "
			for _, w := range tc.want {
				if !strings.Contains(line, " "+w+" ") {
					t.Errorf("argv lacks %q:\n%s", w, line)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(line, " "+a+" ") {
					t.Errorf("argv has %q:\n%s", a, line)
				}
			}
			if n := strings.Count(line, " -cpu "); n > 1 {
				t.Errorf("%d -cpu switches", n)
			}
		})
	}
}

// TestCheckCPUModel: cpu_model = "host" under tcg stops the build before
// qemu starts, with the reason.
func TestCheckCPUModel(t *testing.T) {
	c := &Config{Accelerator: "auto", Hardware: Hardware{CPUModel: "host"}}
	if err := c.checkCPUModel("tcg"); err == nil || !strings.Contains(err.Error(), "BAKE_QEMU_KVM=1") {
		t.Errorf("host under tcg: %v", err)
	}
	if err := c.checkCPUModel("kvm"); err != nil {
		t.Errorf("host under kvm: %v", err)
	}
	c.CPUModel = "max"
	if err := c.checkCPUModel("tcg"); err != nil {
		t.Errorf("max under tcg: %v", err)
	}
}

// TestGCFindsSwtpm starts swtpm the way a vtpm build does, in a run's
// temporary directory, and checks that bake gc's finder finds it by the
// run id and stops it before removing the directory.
func TestGCFindsSwtpm(t *testing.T) {
	if _, err := exec.LookPath(SwtpmBinary); err != nil {
		t.Fatalf("%s is not installed: run scripts/setup.sh", SwtpmBinary)
	}
	if r, ok := tpmEmulator([]string{"/usr/bin/swtpm", "socket", "--tpmstate", "dir=/tmp/bake-qemu-0123456789ab-42/tpm,mode=0600"}); !ok || r != "0123456789ab" {
		t.Errorf("tpmEmulator = %q, %v", r, ok)
	}
	if _, ok := tpmEmulator([]string{"swtpm", "socket", "--tpmstate", "dir=/var/lib/swtpm/vm1"}); ok {
		t.Error("a swtpm bake did not start was taken for a leftover")
	}
	run := "0123456789ac"
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "bake-qemu-"+run+"-123")
	if err := os.MkdirAll(filepath.Join(dir, "tpm"), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(SwtpmBinary, "socket", "--tpm2", "--tpmstate", "dir="+filepath.Join(dir, "tpm"),
		"--ctrl", "type=unixio,path="+filepath.Join(dir, "tpm.sock"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	f := Finder{TempDir: tmp, Grace: 2 * time.Second}
	found, err := f.Find(context.Background(), gc.Filter{RunID: run})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].Kind != "swtpm process" || found[0].ID != fmt.Sprint(cmd.Process.Pid) || found[1].ID != dir {
		t.Fatalf("found %+v", found)
	}
	if rep := gc.Sweep(context.Background(), []gc.Finder{f}, gc.Options{Filter: gc.Filter{RunID: run}}); rep.Failed() {
		t.Fatalf("sweep: %+v", rep)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("swtpm still runs after the sweep")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary directory: %v", err)
	}
}

// TestTPMStep starts and stops the vTPM's swtpm alone, as TPM 2.0 and
// 1.2: a private 0700 state directory, a control socket that answers, and
// after stopTPM no process and no state. A swtpm that dies while the
// guest runs is reported at once and fails the build after the
// provisioners (check vTPM).
func TestTPMStep(t *testing.T) {
	if _, err := exec.LookPath(SwtpmBinary); err != nil {
		t.Fatalf("%s is not installed: run scripts/setup.sh", SwtpmBinary)
	}
	for _, tc := range []struct {
		name, src string
		die       bool
	}{
		{name: "tpm 2.0", src: "vtpm = true"},
		{name: "tpm 1.2", src: "vtpm = true\nuse_tpm1 = true"},
		{name: "dies while the guest runs", src: "vtpm = true", die: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newBuilder(t, base+tc.src, builder.Options{})
			ui := newUI(t)
			s := &state{ui: ui, tmpDir: t.TempDir()}
			ctx := context.Background()
			if err := b.startTPM(ctx, s); err != nil {
				t.Fatal(err)
			}
			tpm := s.tpm
			pid := tpm.cmd.Process.Pid
			if fi, err := os.Stat(tpm.dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("state directory %v %v, want mode 0700", fi, err)
			}
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if has := strings.Contains(string(cmdline), "--tpm2"); has != !b.cfg.UseTPM1 {
				t.Errorf("swtpm command line %q", strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
			if tc.die {
				tpm.cmd.Process.Kill()
				<-tpm.exited
				for i := 0; i < 100 && !strings.Contains(ui.text(), "exited before the build stopped it"); i++ {
					sleepMs(10)
				}
				if !strings.Contains(ui.text(), "error: vtpm: swtpm exited before the build stopped it") {
					t.Errorf("no report of swtpm's death:\n%s", ui.text())
				}
				if err := checkTPM(ctx, s); err == nil || !strings.Contains(err.Error(), "TPM stopped answering") {
					t.Errorf("check vTPM: %v", err)
				}
			} else if err := checkTPM(ctx, s); err != nil {
				t.Errorf("check vTPM with swtpm running: %v", err)
			}
			if err := stopTPM(ctx, s); err != nil {
				t.Fatal(err)
			}
			if s.tpm != nil || !tpm.hasExited() {
				t.Errorf("swtpm %d not stopped", pid)
			}
			if _, err := os.Stat(tpm.dir); !os.IsNotExist(err) {
				t.Errorf("state directory remains: %v", err)
			}
			if strings.Count(ui.text(), "error:") > map[bool]int{true: 1}[tc.die] {
				t.Errorf("errors reported:\n%s", ui.text())
			}
		})
	}
}
