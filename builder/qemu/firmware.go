package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bake-tool/bake/builder"
)

// buildStep is a step of the qemu build.
type buildStep = builder.Step[state]

// prepareFirmware copies what the guest's firmware may write into the
// build's temporary directory, so that neither the template's files nor
// the system's OVMF change: the UEFI variable store (efi_firmware_vars)
// with efi_boot, or the firmware file with use_pflash. The copies go with
// the temporary directory.
func (b *Builder) prepareFirmware(_ context.Context, s *state) error {
	h := b.cfg.Hardware
	switch {
	case h.EFIBoot && !h.EFIDropEFIVars:
		s.efiVars = filepath.Join(s.tmpDir, "efivars.fd")
		if err := copyFile(s.efiVars, h.EFIFirmwareVars, 0o600); err != nil {
			return fmt.Errorf("efi_firmware_vars: %w", err)
		}
		s.ui.Say(fmt.Sprintf("booting through UEFI with %s and a copy of %s", h.EFIFirmwareCode, h.EFIFirmwareVars))
	case h.EFIBoot:
		s.ui.Say(fmt.Sprintf("booting through UEFI with %s and no variable store (efi_drop_efivars)", h.EFIFirmwareCode))
	case h.Firmware != "" && h.UsePflash:
		s.firmware = filepath.Join(s.tmpDir, "firmware.fd")
		if err := copyFile(s.firmware, h.Firmware, 0o600); err != nil {
			return fmt.Errorf("firmware: %w", err)
		}
	}
	return nil
}

// hardwareSteps inserts the firmware copy and swtpm before "start qemu",
// and with vtpm a check that swtpm still runs after "provision".
func (b *Builder) hardwareSteps(steps []buildStep) []buildStep {
	var before []buildStep
	if b.cfg.EFIBoot || b.cfg.UsePflash {
		before = append(before, buildStep{Name: "prepare firmware", Run: b.prepareFirmware})
	}
	if b.cfg.VTPM {
		before = append(before, buildStep{Name: "start swtpm", Run: b.startTPM, Cleanup: stopTPM, Leftover: leftTPM})
	}
	if b.cfg.QMPEnable {
		before = append(before, buildStep{Name: "place QMP socket", Run: b.placeQMP, Cleanup: removeQMP})
	}
	steps = insertSteps(steps, "start qemu", 0, before)
	if b.cfg.VTPM {
		steps = insertSteps(steps, "provision", 1, []buildStep{{Name: "check vTPM", Run: checkTPM}})
	}
	return steps
}

// insertSteps inserts extra at the step named name, before it (after 0)
// or after it (after 1); steps is unchanged when there is no such step.
func insertSteps(steps []buildStep, name string, after int, extra []buildStep) []buildStep {
	if len(extra) == 0 {
		return steps
	}
	for i, st := range steps {
		if st.Name != name {
			continue
		}
		out := append([]buildStep{}, steps[:i+after]...)
		out = append(out, extra...)
		return append(out, steps[i+after:]...)
	}
	return steps
}

// placeQMP picks the path of the user's QMP monitor (qmp_enable):
// qmp_socket_path, or output_directory/vm_name.monitor as in Packer.
func (b *Builder) placeQMP(_ context.Context, s *state) error {
	path := b.cfg.QMPSocketPath
	if path == "" {
		path = filepath.Join(s.outDir, b.cfg.VMName+".monitor")
	}
	if len(path) > maxSocketPath {
		return fmt.Errorf("qmp_enable: the socket path %s is longer than a unix socket allows (%d bytes); set a shorter qmp_socket_path", path, maxSocketPath)
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("qmp_enable: %s already exists; remove it or set another qmp_socket_path", path)
	}
	s.userQMP = path
	s.ui.Say(fmt.Sprintf("QMP monitor for you at %s while qemu runs (qmp_enable)", path))
	return nil
}

// removeQMP removes the user's QMP socket if qemu left it (it removes it
// itself when it exits normally).
func removeQMP(_ context.Context, s *state) error {
	if s.userQMP == "" {
		return nil
	}
	if err := os.Remove(s.userQMP); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove QMP socket: %w", err)
	}
	s.userQMP = ""
	return nil
}
