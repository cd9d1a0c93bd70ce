package qemu

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// Debian's OVMF (package ovmf): the defaults of efi_firmware_code and
// efi_firmware_vars.
const (
	DefaultEFIFirmwareCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	DefaultEFIFirmwareVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// SwtpmBinary is the TPM emulator vtpm starts (Debian's package swtpm).
var SwtpmBinary = "swtpm"

// VGATypes are the values of vga, qemu's -vga.
var VGATypes = []string{"std", "cirrus", "vmware", "qxl", "virtio", "xenfb", "tcx", "cg3", "none"}

// windowDisplays are display values that open a window on the host.
var windowDisplays = map[string]bool{"gtk": true, "sdl": true, "cocoa": true, "spice-app": true}

// Hardware is the qemu source's machine and firmware options, with
// Packer's names. It is part of Config.
type Hardware struct {
	// CPUModel is qemu's -cpu. Without it bake passes -cpu host under
	// KVM and qemu's default model under TCG (Packer defaults to host,
	// which needs KVM).
	CPUModel string `hcl:"cpu_model"`
	// Sockets, Cores and Threads give -smp its topology; those left out
	// qemu derives from cpus. Without cpus, cpus is their product.
	Sockets int `hcl:"sockets"`
	Cores   int `hcl:"cores"`
	Threads int `hcl:"threads"`

	// Display is qemu's -display; bake's default is "none" (no window).
	// UseDefaultDisplay passes no -display, so qemu chooses.
	Display           string `hcl:"display"`
	UseDefaultDisplay bool   `hcl:"use_default_display"`
	// VGA is qemu's -vga; unset, qemu's default card.
	VGA string `hcl:"vga"`

	// Firmware is a firmware file given to qemu as -bios, or, with
	// UsePflash, as a pflash drive (a per-build copy, so the guest may
	// write its variables without touching the file).
	Firmware  string `hcl:"firmware"`
	UsePflash bool   `hcl:"use_pflash"`

	// EFIBoot boots through UEFI: EFIFirmwareCode (read-only) and a
	// per-build copy of EFIFirmwareVars as pflash drives. Setting either
	// file implies EFIBoot. EFIDropEFIVars leaves the vars drive out.
	EFIBoot         bool   `hcl:"efi_boot"`
	EFIFirmwareCode string `hcl:"efi_firmware_code"`
	EFIFirmwareVars string `hcl:"efi_firmware_vars"`
	EFIDropEFIVars  bool   `hcl:"efi_drop_efivars"`

	// VTPM gives the guest a TPM 2.0 (1.2 with UseTPM1) emulated by a
	// swtpm process bake starts and stops with the build.
	VTPM    bool `hcl:"vtpm"`
	UseTPM1 bool `hcl:"use_tpm1"`

	// QMPEnable opens a QMP monitor for the user at QMPSocketPath
	// (default output_directory/vm_name.monitor), beside bake's own.
	QMPEnable     bool   `hcl:"qmp_enable"`
	QMPSocketPath string `hcl:"qmp_socket_path"`
}

// maxSocketPath is the longest unix socket path (sun_path without its NUL).
const maxSocketPath = 107

// prepareHardware checks the hardware and firmware options and fills in
// what follows from them. It runs after cpus has its default.
func (c *Config) prepareHardware(b *templates.Body, diags hcl.Diagnostics) hcl.Diagnostics {
	h := &c.Hardware

	// CPU topology.
	known := true
	prod := 1
	set := 0
	for _, t := range []struct {
		name string
		v    int
	}{{"sockets", h.Sockets}, {"cores", h.Cores}, {"threads", h.Threads}} {
		if !b.Has(t.name) {
			continue
		}
		if !b.Known(t.name) {
			known = false
			continue
		}
		if t.v < 1 {
			diags = append(diags, b.Errorf(t.name, "Invalid value", "%q must be at least 1, not %d.", t.name, t.v))
			known = false
			continue
		}
		prod *= t.v
		set++
	}
	if set > 0 && known {
		switch {
		case !b.Has("cpus"):
			c.CPUs = prod
		case !b.Known("cpus"):
		case set == 3 && prod < c.CPUs:
			diags = append(diags, b.Errorf("cpus", "Invalid CPU topology",
				"sockets*cores*threads = %d*%d*%d = %d is fewer than cpus = %d; qemu needs room for every CPU.",
				h.Sockets, h.Cores, h.Threads, prod, c.CPUs))
		case set < 3 && c.CPUs%prod != 0:
			diags = append(diags, b.Errorf("cpus", "Invalid CPU topology",
				"cpus = %d is not a multiple of %s = %d, so qemu cannot derive the topology's other values; set sockets, cores and threads all three, or make cpus a multiple.",
				c.CPUs, topologyNames(b), prod))
		}
	}

	// CPU model.
	if b.Known("cpu_model") {
		if h.CPUModel == "" {
			diags = append(diags, b.Error("cpu_model", "Invalid value", `"cpu_model" is empty; leave it out for qemu's default.`))
		} else if h.CPUModel == "host" && b.Known("accelerator") && (c.Accelerator == "tcg" || c.Accelerator == "none") {
			diags = append(diags, b.Errorf("cpu_model", "Option needs KVM",
				`cpu_model = "host" passes the host's CPU through, which needs KVM (or HVF), but accelerator is %q; use a named model such as "max" or "qemu64", or leave cpu_model out.`, c.Accelerator))
		} else if h.CPUModel == "host" && c.Accelerator == "auto" {
			diags = append(diags, b.Warningf("cpu_model", "Option needs KVM",
				`cpu_model = "host" needs KVM, which accelerator "auto" uses only with %s=1; without it the build stops before starting qemu.`, EnvKVM))
		}
	}

	// Display.
	diags = b.AtMostOne(diags, "display", "use_default_display")
	if b.Known("display") {
		kind, _, _ := strings.Cut(h.Display, ",")
		switch {
		case h.Display == "":
			diags = append(diags, b.Error("display", "Invalid value", `"display" is empty; leave it out for bake's default, "none".`))
		case kind == "curses":
			diags = append(diags, b.Error("display", "Invalid value",
				`display = "curses" would draw on the terminal bake writes its output to; use "none", or a window ("gtk", "sdl") or "vnc=127.0.0.1:N".`))
		case windowDisplays[kind] && b.Known("headless") && c.Headless:
			diags = append(diags, b.Errorf("display", "Conflicting options",
				"display = %q opens a window, but headless = true says there is none.", h.Display))
		}
	}
	if b.Known("vga") {
		h.VGA = strings.ToLower(h.VGA)
		diags = b.OneOf(diags, "vga", h.VGA, VGATypes...)
	}

	// Firmware.
	if b.Known("use_pflash") && h.UsePflash && !b.Has("firmware") {
		diags = append(diags, b.Error("use_pflash", "Option needs firmware",
			`"use_pflash" says how to give qemu the firmware file, so it needs "firmware".`))
	}
	if b.Known("firmware") {
		if err := templates.CheckReadable(h.Firmware, false); err != nil {
			diags = append(diags, b.Errorf("firmware", "Firmware not found", "%s.", err))
		}
	}
	efi := b.Has("efi_boot") || b.Has("efi_firmware_code") || b.Has("efi_firmware_vars")
	if (b.Known("efi_firmware_code") || b.Known("efi_firmware_vars")) && !(b.Known("efi_boot") && !h.EFIBoot) {
		h.EFIBoot = true // implied, as in Packer
	}
	if b.Known("efi_boot") && !h.EFIBoot && (b.Has("efi_firmware_code") || b.Has("efi_firmware_vars")) {
		at := "efi_firmware_code"
		if !b.Has(at) {
			at = "efi_firmware_vars"
		}
		diags = append(diags, b.Errorf(at, "Conflicting options", "%q is the UEFI firmware, but efi_boot = false.", at))
	}
	if efi && h.EFIBoot {
		if b.Has("firmware") {
			diags = append(diags, b.Error("firmware", "Conflicting options",
				`"firmware" and efi_boot both say which firmware boots the guest; use efi_boot with efi_firmware_code and efi_firmware_vars, or firmware alone.`))
		}
		if !b.Has("efi_firmware_code") {
			h.EFIFirmwareCode = DefaultEFIFirmwareCode
		}
		if !b.Has("efi_firmware_vars") {
			h.EFIFirmwareVars = DefaultEFIFirmwareVars
		}
		for _, f := range []struct{ name, path string }{{"efi_firmware_code", h.EFIFirmwareCode}, {"efi_firmware_vars", h.EFIFirmwareVars}} {
			if f.name == "efi_firmware_vars" && h.EFIDropEFIVars {
				continue
			}
			if b.Has(f.name) && !b.Known(f.name) {
				continue
			}
			if err := templates.CheckReadable(f.path, false); err != nil {
				at := f.name
				if !b.Has(at) {
					at = "efi_boot"
					if !b.Has(at) {
						at = "efi_firmware_code"
					}
				}
				hint := ""
				if !b.Has(f.name) {
					hint = " (the default; Debian's package ovmf installs it)"
				}
				diags = append(diags, b.Errorf(at, "Firmware not found", "%s: %s%s.", f.name, err, hint))
			}
		}
		if secureBootCode(h.EFIFirmwareCode) && b.Known("machine_type") && !strings.HasPrefix(c.MachineType, "q35") && !strings.HasPrefix(c.MachineType, "pc-q35") {
			diags = append(diags, b.Errorf("machine_type", "Option needs q35",
				"The firmware %s enforces Secure Boot, which needs SMM and so machine_type = \"q35\", not %q.", filepath.Base(h.EFIFirmwareCode), c.MachineType))
		} else if secureBootCode(h.EFIFirmwareCode) && !b.Has("machine_type") {
			diags = append(diags, b.Errorf("efi_firmware_code", "Option needs q35",
				"The firmware %s enforces Secure Boot, which needs SMM and so machine_type = \"q35\" (the default is %q).", filepath.Base(h.EFIFirmwareCode), DefaultMachineType))
		}
	}
	if b.Known("efi_drop_efivars") && h.EFIDropEFIVars && !h.EFIBoot && !b.IsUnknown("efi_boot") {
		diags = append(diags, b.Error("efi_drop_efivars", "Option needs efi_boot",
			`"efi_drop_efivars" leaves out the UEFI variable store, so it needs efi_boot = true.`))
	}

	// The user's QMP monitor.
	if b.Known("qmp_socket_path") && !(b.Known("qmp_enable") && h.QMPEnable) && !b.IsUnknown("qmp_enable") {
		diags = append(diags, b.Error("qmp_socket_path", "Option needs qmp_enable",
			`"qmp_socket_path" is where the QMP monitor listens, so it needs qmp_enable = true.`))
	}
	if b.Known("qmp_socket_path") && len(h.QMPSocketPath) > maxSocketPath {
		diags = append(diags, b.Errorf("qmp_socket_path", "Invalid value",
			"A unix socket path has at most %d bytes; %q has %d.", maxSocketPath, h.QMPSocketPath, len(h.QMPSocketPath)))
	}

	// TPM.
	if b.Known("use_tpm1") && h.UseTPM1 && !h.VTPM && !b.IsUnknown("vtpm") {
		diags = append(diags, b.Error("use_tpm1", "Option needs vtpm",
			`"use_tpm1" picks the TPM version of the emulated TPM, so it needs vtpm = true.`))
	}
	if b.Known("vtpm") && h.VTPM {
		if _, err := exec.LookPath(SwtpmBinary); err != nil {
			diags = append(diags, b.Errorf("vtpm", "swtpm not found",
				"vtpm = true needs the TPM emulator %s on PATH (Debian's packages swtpm and swtpm-tools): %v.", SwtpmBinary, err))
		}
	}
	return diags
}

// topologyNames names the topology options b sets, "sockets*cores".
func topologyNames(b *templates.Body) string {
	var n []string
	for _, s := range []string{"sockets", "cores", "threads"} {
		if b.Has(s) {
			n = append(n, s)
		}
	}
	return strings.Join(n, "*")
}

// secureBootCode reports whether an OVMF code file is a Secure Boot build
// (Debian's OVMF_CODE*.secboot.fd and .ms.fd), which needs SMM.
func secureBootCode(path string) bool {
	base := strings.ToLower(filepath.Base(path))
	return strings.Contains(base, "secboot") || strings.Contains(base, ".ms.")
}

// hardwareArgs are the switches for the CPU, display and firmware options:
// -cpu, -smp, -display, -vga, -bios or the pflash drives, and the TPM.
// accel is the accelerator chosen for the build.
func (b *Builder) hardwareArgs(s *state, accel string) []qemuArg {
	c := b.cfg
	h := c.Hardware
	var d []qemuArg
	switch {
	case h.CPUModel != "":
		d = append(d, qemuArg{"-cpu", h.CPUModel})
	case accel == "kvm":
		d = append(d, qemuArg{"-cpu", "host"})
	}
	d = append(d, qemuArg{"-smp", smpValue(c.CPUs, h.Sockets, h.Cores, h.Threads)})
	d = append(d, qemuArg{"-m", strconv.Itoa(c.Memory) + "M"})
	switch {
	case h.UseDefaultDisplay:
	case h.Display != "":
		d = append(d, qemuArg{"-display", h.Display})
	default:
		d = append(d, qemuArg{"-display", "none"})
	}
	if h.VGA != "" {
		d = append(d, qemuArg{"-vga", h.VGA})
	}
	switch {
	case h.EFIBoot:
		if secureBootCode(h.EFIFirmwareCode) {
			d = append(d, qemuArg{"-global", "driver=cfi.pflash01,property=secure,value=on"})
		}
		d = append(d, qemuArg{"-drive", "file=" + escapeOpt(h.EFIFirmwareCode) + ",if=pflash,unit=0,format=raw,readonly=on"})
		if s.efiVars != "" {
			d = append(d, qemuArg{"-drive", "file=" + escapeOpt(s.efiVars) + ",if=pflash,unit=1,format=raw"})
		}
	case h.Firmware != "" && h.UsePflash:
		d = append(d, qemuArg{"-drive", "file=" + escapeOpt(s.firmware) + ",if=pflash,unit=0,format=raw"})
	case h.Firmware != "":
		d = append(d, qemuArg{"-bios", h.Firmware})
	}
	if s.userQMP != "" {
		d = append(d, qemuArg{"-qmp", "unix:" + escapeOpt(s.userQMP) + ",server=on,wait=off"})
	}
	if s.tpm != nil {
		d = append(d,
			qemuArg{"-chardev", "socket,id=chrtpm,path=" + escapeOpt(s.tpm.ctrl)},
			qemuArg{"-tpmdev", "emulator,id=tpm0,chardev=chrtpm"},
			qemuArg{"-device", "tpm-tis,tpmdev=tpm0"},
		)
	}
	return d
}

// machineValue is -machine's value: machine_type, with SMM on for a
// Secure Boot firmware.
func (c *Config) machineValue() string {
	if c.EFIBoot && secureBootCode(c.EFIFirmwareCode) && !strings.Contains(c.MachineType, "smm=") {
		return c.MachineType + ",smm=on"
	}
	return c.MachineType
}

// smpValue is -smp's value: cpus and the topology options that are set.
func smpValue(cpus, sockets, cores, threads int) string {
	v := strconv.Itoa(cpus)
	for _, t := range []struct {
		name string
		n    int
	}{{"sockets", sockets}, {"cores", cores}, {"threads", threads}} {
		if t.n > 0 {
			v += fmt.Sprintf(",%s=%d", t.name, t.n)
		}
	}
	return v
}

// checkCPUModel refuses cpu_model = "host" when the build runs under TCG
// (accelerator auto chose it): qemu would fail with a less clear message.
func (c *Config) checkCPUModel(accel string) error {
	if c.CPUModel == "host" && accel != "kvm" && accel != "hvf" {
		return fmt.Errorf("cpu_model = \"host\" needs KVM, but the build runs under %s (accelerator %q): set %s=1 where KVM guests run, accelerator = \"kvm\", or a named cpu_model such as \"max\"", accel, c.Accelerator, EnvKVM)
	}
	return nil
}
