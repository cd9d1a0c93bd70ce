package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/gc"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
)

func TestGCNames(t *testing.T) {
	run := "0b9a7c54-3a4f-4c2e-9f1d-2d6c1e8a9b70"
	tests := []struct {
		args      []string
		run, bld  string
		vm, tool  bool
		wantMatch bool
	}{
		{args: []string{"/usr/bin/qemu-system-x86_64", "-machine", "pc", "-name", "bake-" + run + "-qemu.debian"}, run: run, bld: "qemu.debian", vm: true},
		{args: []string{"qemu-system-aarch64", "-name", "bake-0123456789ab-qemu.x,process=y"}, run: "0123456789ab", bld: "qemu.x", vm: true},
		// bake test's machine: run id RUN-test (test.go).
		{args: []string{"qemu-system-x86_64", "-name", "bake-" + run + "-test-qemu.debian"}, run: run, bld: "qemu.debian", vm: true},
		{args: []string{"qemu-system-x86_64", "-name", "my-vm"}},
		{args: []string{"/bin/sh", "-c", "-name bake-" + run + "-x"}},
		{args: []string{"qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", "/o/.debian." + run + ".work", "/o/.debian." + run + ".part"}, run: run, tool: true},
		{args: []string{"qemu-img", "info", "/srv/base.qcow2"}},
	}
	for _, tt := range tests {
		r, b, ok := vmName(tt.args)
		if ok != tt.vm || ok && (r != tt.run || b != tt.bld) {
			t.Errorf("vmName(%q) = %q, %q, %v", tt.args, r, b, ok)
		}
		r, ok = diskTool(tt.args)
		if ok != tt.tool || ok && r != tt.run {
			t.Errorf("diskTool(%q) = %q, %v", tt.args, r, ok)
		}
	}
	for _, tt := range []struct {
		args []string
		run  string
	}{
		{[]string{"/usr/bin/swtpm", "socket", "--tpmstate", "dir=/tmp/bake-qemu-" + run + "-4242/tpm", "--ctrl", "type=unixio,path=/tmp/bake-qemu-" + run + "-4242/tpm/sock"}, run},
		// bake test's machine: its temporary directory is bake-qemu-RUN-test-NNN.
		{[]string{"swtpm", "socket", "--tpmstate", "dir=/tmp/bake-qemu-0123456789ab-test-777/tpm"}, "0123456789ab"},
		{[]string{"swtpm", "socket", "--tpmstate", "dir=/tmp/bake-qemu-0123456789ab-other-777/tpm"}, ""},
		{[]string{"swtpm", "socket", "--tpmstate", "dir=/var/lib/tpm"}, ""},
		{[]string{"qemu-img", "dir=/tmp/bake-qemu-0123456789ab-777/tpm"}, ""},
	} {
		r, ok := tpmEmulator(tt.args)
		if ok != (tt.run != "") || r != tt.run {
			t.Errorf("tpmEmulator(%q) = %q, %v; want %q", tt.args, r, ok, tt.run)
		}
	}
}

// TestGCKillsQemu starts a qemu the way the builder names it (no guest:
// -machine none, stopped) and checks that the finder finds it by its run
// id and stops it.
func TestGCKillsQemu(t *testing.T) {
	if _, err := exec.LookPath(DefaultQemuBinary); err != nil {
		t.Fatalf("%s is not installed: run scripts/setup.sh", DefaultQemuBinary)
	}
	run := "0123456789ab"
	cmd := exec.Command(DefaultQemuBinary, "-name", "bake-"+run+"-qemu.gc", "-machine", "none", "-nodefaults", "-display", "none", "-S")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "bake-qemu-"+run+"-123")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := Finder{TempDir: tmp, Grace: 2 * time.Second}
	var found []gc.Leftover
	for deadline := time.Now().Add(10 * time.Second); len(found) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if found, err = f.Find(context.Background(), gc.Filter{RunID: run}); err != nil {
			t.Fatal(err)
		}
	}
	if len(found) != 2 || found[0].Kind != "qemu process" || found[0].Build != "qemu.gc" || found[1].ID != dir {
		t.Fatalf("found %+v", found)
	}
	rep := gc.Sweep(context.Background(), []gc.Finder{f}, gc.Options{Filter: gc.Filter{RunID: run}})
	if rep.Failed() {
		t.Fatalf("sweep: %+v", rep)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("qemu still runs after the sweep")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary directory: %v", err)
	}
}

// TestGCAfterSIGKILL kills the real bake binary while the guest boots and
// while it is provisioned (a shell-local provisioner waits), then runs
// `bake gc -run-id RUN`: the output directory (found through the run's
// journal, wherever it is), the temporary directory, qemu and the
// shell-local processes are gone.
func TestGCAfterSIGKILL(t *testing.T) {
	g := fixture(t)
	bin := bakebin.Path(t)
	dir := t.TempDir()
	base := copyBase(t, g.Disk, dir)
	template := filepath.Join(dir, "gc.pkr.hcl")
	src := `
variable "base" {
  type = string
}
variable "fixture" {
  type = string
}
variable "output" {
  type = string
}
variable "marker" {
  type    = string
  default = ""
}
variable "compress" {
  type    = bool
  default = false
}

source "qemu" "gc" {
  iso_url          = var.base
  iso_checksum     = "none"
  disk_image       = true
  use_backing_file = !var.compress
  disk_compression = var.compress
  memory           = 512
  ssh_username     = "root"
  ssh_timeout      = "5m"
  boot_wait        = "0s"
  shutdown_command = "poweroff"
  output_directory = var.output
  vm_name          = "gc.qcow2"
  qemuargs = [
    ["-kernel", "${var.fixture}/vmlinuz"],
    ["-initrd", "${var.fixture}/initrd.img"],
    ["-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"],
  ]
}

build {
  sources = ["source.qemu.gc"]

  provisioner "shell" {
    inline = ["echo guest up"]
  }

  provisioner "shell-local" {
    inline = ["if [ -n '${var.marker}' ]; then echo \"$BAKE_RUN_ID\" > '${var.marker}'; while :; do sleep 1; done; fi"]
  }
}
`
	if err := os.WriteFile(template, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	points := []struct {
		name     string
		at       func(d string) bakebin.KillPoint
		compress bool
		want     []string // kinds left, besides the qemu (and qemu-img) processes that may still be dying
	}{
		{
			name: "during boot",
			at:   func(string) bakebin.KillPoint { return bakebin.KillPoint{Step: "start qemu"} },
			want: []string{"qemu output directory", "qemu temporary directory"},
		},
		{
			// The base is being compressed into the output directory
			// by a qemu-img of bake's (precompress.go): it goes too.
			// That qemu-img runs at the lowest CPU priority, so on a
			// loaded machine it may not have made its file when the
			// guest starts: bake is killed once it has.
			name: "during boot, compressing the base",
			at: func(d string) bakebin.KillPoint {
				return bakebin.KillPoint{Step: "start qemu", Before: func(string) {
					pat := filepath.Join(d, "somewhere", "output", ".gc.qcow2.*.part")
					for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
						if m, _ := filepath.Glob(pat); len(m) > 0 {
							return
						}
					}
				}}
			},
			compress: true,
			want:     []string{"qemu output directory", "qemu temporary directory"},
		},
		{
			name: "during provisioning",
			at:   func(d string) bakebin.KillPoint { return bakebin.KillPoint{Marker: filepath.Join(d, "marker")} },
			// -debug's key file too: a killed bake cannot remove it.
			want: []string{"debug SSH key", "process", "qemu output directory", "qemu temporary directory", "temporary file"},
		},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			d := t.TempDir()
			out := filepath.Join(d, "somewhere", "output")
			env := bakebin.Env(t)
			tmp := bakebin.Getenv(env, "TMPDIR")
			journal := gc.Journal{Dir: filepath.Join(bakebin.Getenv(env, "BAKE_STATE_DIR"), "runs")}
			at := p.at(d)
			cmd := exec.Command(bin, "build", "-json", "-debug", "-manifest", "",
				"-var", "base="+base, "-var", "fixture="+filepath.Dir(g.Disk), "-var", "output="+out, "-var", "marker="+at.Marker,
				"-var", fmt.Sprintf("compress=%v", p.compress), template)
			cmd.Env = env
			cmd.Dir = d // where -debug keeps the key, qemu's NAME.pem
			runID, text := bakebin.KillAt(t, cmd, at)
			t.Cleanup(func() { assertNoLeftovers(t, runID, out) })

			// What gc sees: this package's finder and the local one, and
			// the journal's places through Sweep (dry run).
			rep := gc.Sweep(context.Background(), []gc.Finder{gc.Local{TempDir: tmp}, Finder{TempDir: tmp}},
				gc.Options{Filter: gc.Filter{RunID: runID}, DryRun: true, Journal: journal})
			var kinds []string
			for _, o := range rep.Items {
				if o.Kind != "qemu process" && !slices.Contains(kinds, o.Kind) {
					kinds = append(kinds, o.Kind)
				}
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, p.want) {
				t.Fatalf("after SIGKILL %s: left %v, want %v\n%s", at, kinds, p.want, text)
			}
			if _, err := os.Stat(out); err != nil {
				t.Fatalf("the output directory is not there to be found: %v", err)
			}
			if m, _ := filepath.Glob(filepath.Join(out, ".gc.qcow2.*.part")); p.compress && len(m) == 0 {
				t.Fatalf("bake was killed before it compressed the base into the output directory:\n%s", text)
			}

			gcOut := bakebin.GC(t, env, "-run-id", runID)
			t.Logf("bake gc:\n%s", gcOut)
			if !strings.Contains(gcOut, "qemu output directory") || !strings.Contains(gcOut, "failed 0") {
				t.Errorf("bake gc output:\n%s", gcOut)
			}
			rep = gc.Sweep(context.Background(), []gc.Finder{gc.Local{TempDir: tmp}, Finder{TempDir: tmp}},
				gc.Options{Filter: gc.Filter{RunID: runID}, DryRun: true, Journal: journal})
			if len(rep.Items) > 0 {
				t.Errorf("left after bake gc: %+v", rep.Items)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output directory after bake gc: %v", err)
			}
			if _, err := os.Stat(filepath.Dir(out)); err != nil {
				t.Errorf("bake gc removed more than the output directory: %v", err)
			}
			if keys, _ := filepath.Glob(filepath.Join(d, "*.pem")); len(keys) > 0 {
				t.Errorf("debug key files after bake gc: %v", keys)
			}
		})
	}
}
