package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/templates"
)

// DefaultFloppyLabel is floppy_label's default, Packer's.
const DefaultFloppyLabel = "packer"

// floppyBytes is the size of the floppy image, a 1.44 MB diskette, and
// floppyData what its FAT12 file system holds: 2847 clusters of 512 bytes.
const (
	floppyBytes = 1440 << 10
	floppyData  = 2847 * 512
)

// Media is the qemu source's floppy, additional disks, qemu-img and NAT
// options, with Packer's names. It is part of Config.
type Media struct {
	// FloppyFiles (paths or globs) are put in the floppy's root
	// directory, flat: a directory's files, at any depth, go there too.
	// FloppyDirs (paths or globs) are copied with their name and
	// structure. FloppyContent is name → text, and wins over a file of
	// the same name. The floppy's FAT label is FloppyLabel (default
	// "packer").
	FloppyFiles   []string          `hcl:"floppy_files"`
	FloppyDirs    []string          `hcl:"floppy_dirs"`
	FloppyContent map[string]string `hcl:"floppy_content"`
	FloppyLabel   string            `hcl:"floppy_label"`

	// QemuImgArgs are extra arguments for qemu-img's create, convert and
	// resize, placed before the file names.
	QemuImgArgs *QemuImgArgs `hcl:"qemu_img_args,block"`

	// DiskAdditionalSize are the sizes of extra empty disks, attached
	// after the main one and written beside it as vm_name-1, vm_name-2…
	DiskAdditionalSize []string `hcl:"disk_additional_size"`
	additionalSizes    []int64

	// SkipNatMapping forwards no host port to the guest: the
	// communicator reaches it at ssh_host (a network set up through
	// qemuargs), or there is no communicator.
	SkipNatMapping bool `hcl:"skip_nat_mapping"`
}

// QemuImgArgs is the qemu_img_args block.
type QemuImgArgs struct {
	Convert []string `hcl:"convert"`
	Create  []string `hcl:"create"`
	Resize  []string `hcl:"resize"`
}

// hasFloppy reports whether the build makes a floppy.
func (m *Media) hasFloppy() bool {
	return len(m.FloppyFiles) > 0 || len(m.FloppyDirs) > 0 || len(m.FloppyContent) > 0
}

// fatLabelBad lists the characters a FAT volume label may not hold.
const fatLabelBad = "\"*+,./:;<=>?[\\]|"

// prepareMedia checks the Media options; c's machine and communicator
// options are already prepared.
func (c *Config) prepareMedia(b *templates.Body, diags hcl.Diagnostics) hcl.Diagnostics {
	m := &c.Media
	if !b.Has("floppy_label") {
		m.FloppyLabel = DefaultFloppyLabel
	} else if b.Known("floppy_label") {
		l := m.FloppyLabel
		switch {
		case l == "" || len(l) > 11:
			diags = append(diags, b.Errorf("floppy_label", "Invalid floppy label", `A FAT volume label is 1 to 11 characters, not %d.`, len(l)))
		case strings.ContainsAny(l, fatLabelBad) || strings.IndexFunc(l, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0:
			diags = append(diags, b.Errorf("floppy_label", "Invalid floppy label", `%q: a FAT volume label is printable ASCII without any of %s.`, l, fatLabelBad))
		}
	}
	var total int64
	known := true
	for _, opt := range []struct {
		name string
		list []string
		flat bool
	}{{"floppy_files", m.FloppyFiles, true}, {"floppy_dirs", m.FloppyDirs, false}} {
		if !b.Known(opt.name) {
			known = known && !b.IsUnknown(opt.name)
			continue
		}
		for i, pat := range opt.list {
			paths, err := expandFloppyPath(pat)
			if err != nil {
				diags = append(diags, b.ElementErrorf(opt.name, i, "File not found", "%s.", err))
				continue
			}
			for _, p := range paths {
				n, err := treeSize(p)
				if err != nil {
					diags = append(diags, b.ElementErrorf(opt.name, i, "Unreadable file", "%s.", err))
				}
				total += n
			}
		}
	}
	if b.Known("floppy_content") {
		for k, v := range m.FloppyContent {
			if floppyName(k) == "" {
				diags = append(diags, b.KeyErrorf("floppy_content", k, "Invalid file name", `%q is not a file name on the floppy.`, k))
			}
			total += roundCluster(int64(len(v)))
		}
	} else if b.IsUnknown("floppy_content") {
		known = false
	}
	if known && total > floppyData {
		at := "floppy_files"
		for _, n := range []string{"floppy_content", "floppy_dirs", "floppy_files"} {
			if b.Has(n) {
				at = n
			}
		}
		diags = append(diags, b.Errorf(at, "Floppy too small",
			"The floppy's files take %d KiB; a 1.44 MB floppy holds %d KiB. Serve large files with http_directory or upload them with a provisioner.", (total+1023)>>10, floppyData>>10))
	}
	if m.hasFloppy() && b.Known("machine_type") && !floppyMachine(c.MachineType) {
		diags = append(diags, b.Errorf("machine_type", "No floppy controller",
			`The floppy needs a PC machine with an ISA floppy controller ("pc", "q35", "isapc" or one of their versions); %q has none.`, c.MachineType))
	}

	if q := m.QemuImgArgs; q != nil {
		qb := b.Blocks["qemu_img_args"][0]
		for _, l := range []struct {
			name string
			args []string
		}{{"convert", q.Convert}, {"create", q.Create}, {"resize", q.Resize}} {
			if !qb.Known(l.name) {
				continue
			}
			for i, a := range l.args {
				if a == "" {
					diags = append(diags, qb.ElementErrorf(l.name, i, "Invalid qemu-img argument", "Entry %d is empty.", i+1))
				}
			}
		}
	}

	m.additionalSizes = nil
	if b.Known("disk_additional_size") {
		for i, s := range m.DiskAdditionalSize {
			n, err := templates.ParseSize(s)
			switch {
			case err != nil:
				diags = append(diags, b.ElementErrorf("disk_additional_size", i, "Invalid size", "%s.", err))
			case n < 1<<20:
				diags = append(diags, b.ElementErrorf("disk_additional_size", i, "Invalid size", "An additional disk must be at least 1M, not %q; a bare number is in mebibytes.", s))
			}
			m.additionalSizes = append(m.additionalSizes, int64(n))
		}
		if c.DiskInterface == "sata" && len(m.DiskAdditionalSize) > 5 {
			diags = append(diags, b.Errorf("disk_additional_size", "Too many disks",
				`disk_interface = "sata" has 6 ports, for the main disk and at most 5 more, not %d.`, len(m.DiskAdditionalSize)))
		}
	}

	if b.Known("skip_nat_mapping") && m.SkipNatMapping {
		if c.Type == communicator.SSH && !b.Has("ssh_host") {
			diags = append(diags, b.Error("skip_nat_mapping", "Option needs ssh_host",
				`With "skip_nat_mapping" no host port is forwarded to the guest, so bake cannot reach it on 127.0.0.1: set "ssh_host" to the guest's address on a network you give in qemuargs (for example ["-netdev", "bridge,id=user.0,br=br0"]), or communicator = "none".`))
		}
		for _, n := range []string{"host_port_min", "host_port_max"} {
			if b.Has(n) {
				diags = append(diags, b.Warningf(n, "Option ignored", "%q has no effect with skip_nat_mapping: no port is forwarded.", n))
			}
		}
	}
	return diags
}

// floppyMachine reports whether qemu's machine type has (or makes, when a
// floppy drive is given) an ISA floppy controller.
func floppyMachine(t string) bool {
	t = strings.ToLower(t)
	if i := strings.IndexByte(t, ','); i >= 0 {
		t = t[:i]
	}
	return t == "pc" || t == "q35" || t == "isapc" || strings.HasPrefix(t, "pc-i440fx-") || strings.HasPrefix(t, "pc-q35-")
}

// expandFloppyPath returns what a floppy_files or floppy_dirs entry
// names: its glob's matches, or the path itself, which must exist.
func expandFloppyPath(pat string) ([]string, error) {
	if strings.ContainsAny(pat, "*?[") {
		m, err := filepath.Glob(templates.ExpandHome(pat))
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid pattern: %w", pat, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%q matches no file", pat)
		}
		return m, nil
	}
	if err := templates.CheckReadable(pat, true); err != nil {
		return nil, err
	}
	return []string{templates.ExpandHome(pat)}, nil
}

// treeSize is the room path's files take on the floppy, each rounded up
// to a cluster.
func treeSize(path string) (int64, error) {
	var total int64
	err := filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			total += 512
		} else {
			total += roundCluster(fi.Size())
		}
		return nil
	})
	return total, err
}

func roundCluster(n int64) int64 { return (n + 511) &^ 511 }

// floppyName cleans a floppy_content key into a relative path, or "".
func floppyName(k string) string {
	return filepath.Clean("/" + filepath.ToSlash(k))[1:]
}

// imgArgs is a qemu-img command line: the subcommand, bake's options,
// the template's qemu_img_args for it, then the file names and sizes.
func (c *Config) imgArgs(sub string, opts []string, files ...string) []string {
	args := append([]string{sub}, opts...)
	if q := c.QemuImgArgs; q != nil {
		switch sub {
		case "create":
			args = append(args, q.Create...)
		case "convert":
			args = append(args, q.Convert...)
		case "resize":
			args = append(args, q.Resize...)
		}
	}
	return append(args, files...)
}

// additionalDisk is the output name of the i-th additional disk (from 1),
// Packer's vm_name-i.
func (c *Config) additionalDisk(i int) string { return c.VMName + "-" + strconv.Itoa(i) }

// mediaState is what the media steps made.
type mediaState struct {
	floppy string   // the floppy image, in the temporary directory
	extra  []string // the additional disks' working files
}

// mediaSteps inserts "create additional disks" after "create disk" and
// "create floppy" after "create CD", when the template asks for them.
func (b *Builder) mediaSteps(steps []builder.Step[state]) []builder.Step[state] {
	insert := func(after string, st builder.Step[state]) {
		for i := range steps {
			if steps[i].Name == after {
				out := append([]builder.Step[state]{}, steps[:i+1]...)
				out = append(out, st)
				steps = append(out, steps[i+1:]...)
				return
			}
		}
		steps = append(steps, st) // not reached: the names are the builder's own
	}
	if len(b.cfg.additionalSizes) > 0 {
		insert("create disk", builder.Step[state]{Name: "create additional disks", Run: b.createAdditional, Cleanup: removeAdditional})
	}
	if b.cfg.hasFloppy() {
		insert("create CD", builder.Step[state]{Name: "create floppy", Run: b.createFloppy})
	}
	return steps
}

// createAdditional makes the empty disks of disk_additional_size beside
// the working disk, named with the run id until they are converted.
func (b *Builder) createAdditional(ctx context.Context, s *state) error {
	for i, size := range b.cfg.additionalSizes {
		p := filepath.Join(s.outDir, "."+b.cfg.additionalDisk(i+1)+"."+b.runID+".work")
		s.media.extra = append(s.media.extra, p)
		if _, err := qemuImg(ctx, b.cfg.imgArgs("create", []string{"-q", "-f", b.cfg.Format}, p, strconv.FormatInt(size, 10))...); err != nil {
			return fmt.Errorf("create additional disk %d: %w", i+1, err)
		}
		s.ui.Say(fmt.Sprintf("created additional disk %d: an empty %s disk of %d MiB", i+1, b.cfg.Format, size>>20))
	}
	return nil
}

func removeAdditional(_ context.Context, s *state) error {
	var errs []error
	for _, p := range s.media.extra {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove additional disk: %w", err))
		}
	}
	s.media.extra = nil
	return errors.Join(errs...)
}

// diskArgs attaches the working disk and the additional disks on
// disk_interface, in that order (the guest sees them as vda, vdb…).
func (b *Builder) diskArgs(s *state) []qemuArg {
	c := b.cfg
	files := append([]string{s.work}, s.media.extra...)
	var d []qemuArg
	for i, f := range files {
		format := c.Format
		if i == 0 {
			format = b.workFormat(s)
		}
		drive := fmt.Sprintf("file=%s,format=%s,cache=%s,discard=%s,detect-zeroes=%s",
			escapeOpt(f), format, c.DiskCache, c.DiskDiscard, c.DiskDetectZeroes)
		id := "drive" + strconv.Itoa(i)
		if ctl, ok := diskControllers[c.DiskInterface]; ok {
			if i == 0 {
				d = append(d, qemuArg{"-device", ctl.device})
			}
			d = append(d,
				qemuArg{"-device", ctl.disk(i) + ",drive=" + id},
				qemuArg{"-drive", drive + ",if=none,id=" + id})
			continue
		}
		d = append(d, qemuArg{"-drive", drive + ",if=" + c.DiskInterface})
	}
	return d
}

// diskControllers are the disk_interface values whose disks hang off a
// controller device: the controller, added once, and each disk's device
// on its bus (disk i).
var diskControllers = map[string]struct {
	device string
	disk   func(i int) string
}{
	"virtio-scsi": {"virtio-scsi-pci,id=scsi0", func(int) string { return "scsi-hd,bus=scsi0.0" }},
	// qemu 4.2 and later refuse -drive if=scsi on the pc and q35 machines
	// (no default SCSI controller): an LSI 53C895A, the controller if=scsi
	// used to add, with the disks on its bus.
	"scsi": {"lsi53c895a,id=scsi0", func(i int) string { return "scsi-hd,bus=scsi0.0,scsi-id=" + strconv.Itoa(i) }},
	"sata": {"ahci,id=ahci0", func(i int) string { return "ide-hd,bus=ahci0." + strconv.Itoa(i) }},
}

// startQemuNoNAT starts qemu without a forwarded port (skip_nat_mapping).
func (b *Builder) startQemuNoNAT(ctx context.Context, s *state) error {
	argv, err := b.qemuArgs(s)
	if err != nil {
		return err
	}
	os.Remove(s.console)
	qmp := filepath.Join(s.tmpDir, "qmp.sock")
	os.Remove(qmp)
	s.ui.Say(fmt.Sprintf("starting %s (%s, %d MiB, %d CPU, no port forwarded: skip_nat_mapping)",
		b.cfg.QemuBinary, s.accel, b.cfg.Memory, b.cfg.CPUs))
	s.vm, err = startVM(ctx, b.cfg.QemuBinary, argv, qmp)
	return err
}

// convertAdditional converts each additional disk, as the main one, into
// output_directory/vm_name-N and adds it to the artifact.
func (b *Builder) convertAdditional(ctx context.Context, s *state) error {
	for i, work := range s.media.extra {
		out := filepath.Join(s.outDir, b.cfg.additionalDisk(i+1))
		if b.cfg.SkipCompaction {
			if err := os.Rename(work, out); err != nil {
				return fmt.Errorf("move additional disk %d into place: %w", i+1, err)
			}
		} else {
			part := filepath.Join(s.outDir, "."+b.cfg.additionalDisk(i+1)+"."+b.runID+".part")
			opts := []string{"-f", b.cfg.Format, "-O", b.cfg.Format}
			if b.cfg.DiskCompression && b.cfg.Format == "qcow2" {
				opts = append(opts, "-c")
			}
			if _, err := qemuImg(ctx, b.cfg.imgArgs("convert", opts, work, part)...); err != nil {
				os.Remove(part)
				return fmt.Errorf("convert additional disk %d: %w", i+1, err)
			}
			if err := os.Rename(part, out); err != nil {
				os.Remove(part)
				return fmt.Errorf("move additional disk %d into place: %w", i+1, err)
			}
			os.Remove(work)
		}
		s.media.extra[i] = ""
		d := newDigests("")
		if err := hashFile(out, d); err != nil {
			return fmt.Errorf("hash %s: %w", out, err)
		}
		s.ui.Say(fmt.Sprintf("wrote additional disk %s (%d MiB)", out, d.n>>20))
		s.art.Files = append(s.art.Files, out)
		s.art.Items = append(s.art.Items, artifacts.Item{
			ExternalIdentifier: out,
			Digest:             "sha256:" + d.SHA256(),
			Size:               d.n,
			Format:             b.cfg.Format,
			Path:               out,
		})
		destroy := s.art.Destroy
		s.art.Destroy = func(ctx context.Context) error {
			if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return destroy(ctx)
		}
	}
	return nil
}
