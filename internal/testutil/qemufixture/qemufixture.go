// Package qemufixture finds the Debian guest that scripts/qemu-fixture.sh
// makes for tests that boot qemu, building it on first use (a few minutes,
// then cached in /var/cache/bake-fixtures).
package qemufixture

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Guest is a fixture directory's files: an ext4 disk without a partition
// table (label bakeroot) and the kernel and initrd that boot it with
// -append "root=LABEL=bakeroot console=ttyS0".
type Guest struct {
	Dir, Disk, Kernel, Initrd string
}

// Ansible is the variant with python3, sudo and ansible-core.
const Ansible = "ansible"

var (
	mu    sync.Mutex
	dirs  = map[string]string{}
	fails = map[string]error{}
)

// envVar is the variable that may name a ready fixture directory of the
// variant: BAKE_QEMU_FIXTURE, BAKE_QEMU_ANSIBLE_FIXTURE.
func envVar(variant string) string {
	if variant == "" {
		return "BAKE_QEMU_FIXTURE"
	}
	return "BAKE_QEMU_" + strings.ToUpper(variant) + "_FIXTURE"
}

// Get returns the fixture of variant ("" is the default guest, Ansible
// the one with Ansible in it), running scripts/qemu-fixture.sh once per
// test process and variant. It skips the test with -short, and fails it
// when qemu-system-x86_64 is missing or the fixture cannot be built
// (building needs root).
func Get(t testing.TB, variant string) Guest {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a qemu guest; skipped with -short")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatal("qemu-system-x86_64 is not installed: run scripts/setup.sh")
	}
	dir, err := get(variant)
	if err != nil {
		t.Fatal(err)
	}
	return Guest{
		Dir:    dir,
		Disk:   filepath.Join(dir, "disk.qcow2"),
		Kernel: filepath.Join(dir, "vmlinuz"),
		Initrd: filepath.Join(dir, "initrd.img"),
	}
}

func get(variant string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if d, ok := dirs[variant]; ok {
		return d, fails[variant]
	}
	d, err := build(variant)
	dirs[variant], fails[variant] = d, err
	return d, err
}

func build(variant string) (string, error) {
	if d := os.Getenv(envVar(variant)); d != "" {
		return d, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("building the qemu fixture needs root (or set %s)", envVar(variant))
	}
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("qemufixture: cannot locate the checkout")
	}
	script := filepath.Join(filepath.Dir(self), "..", "..", "..", "scripts", "qemu-fixture.sh")
	cmd := exec.Command(script)
	cmd.Env = append(os.Environ(), "BAKE_QEMU_FIXTURE_VARIANT="+variant)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/qemu-fixture.sh (variant %q): %w", variant, err)
	}
	return strings.TrimSpace(string(out)), nil
}
