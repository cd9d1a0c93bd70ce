package qemu

import (
	"fmt"
	"os"
)

// EnvKVM is the environment variable that lets accelerator = "auto" use
// KVM: set it to 1 on a host where KVM guests are known to run.
const EnvKVM = "BAKE_QEMU_KVM"

// DevKVM is the KVM device; a variable so tests can point it elsewhere.
var DevKVM = "/dev/kvm"

// chooseAccel turns the accelerator option into the value of qemu's
// -accel switch, and says why when auto picked tcg.
//
// auto is kvm only when EnvKVM is "1" and DevKVM can be opened for
// reading and writing; otherwise tcg. bake does not trust /dev/kvm alone:
// under nested virtualisation the device opens and qemu starts, yet the
// guest's CPU never makes progress (the machines bake is tested on behave
// so), and telling that apart takes a guest that boots, which a probe
// cannot provide without seconds of delay and an image of its own. So KVM
// is opt-in for auto, and always available by accelerator = "kvm".
//
// none means qemu's default, which for x86 is tcg. kvm fails early, with
// the reason, when the device cannot be opened.
func chooseAccel(opt string, getenv func(string) string) (accel, note string, err error) {
	switch opt {
	case "", "auto":
		if getenv(EnvKVM) != "1" {
			return "tcg", fmt.Sprintf("accelerator auto: using tcg (set %s=1 to use kvm where KVM guests run)", EnvKVM), nil
		}
		if err := openKVM(); err != nil {
			return "tcg", fmt.Sprintf("accelerator auto: using tcg: %s=1 but %v", EnvKVM, err), nil
		}
		return "kvm", "", nil
	case "none":
		return "tcg", "", nil
	case "kvm":
		if err := openKVM(); err != nil {
			return "", "", fmt.Errorf("accelerator kvm: %w", err)
		}
		return "kvm", "", nil
	default:
		return opt, "", nil
	}
}

func openKVM() error {
	f, err := os.OpenFile(DevKVM, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}
