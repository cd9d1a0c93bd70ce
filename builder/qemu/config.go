package qemu

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/templates"
)

// Defaults filled in by Prepare.
const (
	DefaultDiskSize        = templates.Size(40960 << 20)
	DefaultFormat          = "qcow2"
	DefaultAccelerator     = "auto"
	DefaultMachineType     = "pc"
	DefaultCPUs            = 1
	DefaultMemory          = 512
	DefaultNetDevice       = "virtio-net"
	DefaultDiskInterface   = "virtio"
	DefaultQemuBinary      = "qemu-system-x86_64"
	DefaultCDLabel         = "cidata"
	DefaultBootWait        = 10 * time.Second
	DefaultShutdownTimeout = 5 * time.Minute
	DefaultHostPortMin     = 2222
	DefaultHostPortMax     = 4444
	DefaultHTTPPortMin     = 8000
	DefaultHTTPPortMax     = 9000
	DefaultVNCPortMin      = 5900
	DefaultVNCPortMax      = 6000
	DefaultVNCBindAddress  = "127.0.0.1"
)

// Enumerations.
var (
	Formats        = []string{"qcow2", "raw"}
	Accelerators   = []string{"auto", "none", "kvm", "tcg", "hvf", "whpx", "xen"}
	DiskInterfaces = []string{"virtio", "virtio-scsi", "ide", "sata", "scsi"}
	NetDevices     = []string{"virtio-net", "virtio-net-pci", "virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci",
		"pcnet", "usb-net", "vmxnet3", "i82550", "i82551", "i82557a", "i82557b", "i82557c", "i82558a",
		"i82558b", "i82559a", "i82559b", "i82559c", "i82559er", "i82562", "i82801"}
	DiskCaches       = []string{"writeback", "writethrough", "none", "unsafe", "directsync"}
	DiskDiscards     = []string{"unmap", "ignore"}
	DiskDetectZeroes = []string{"off", "on", "unmap"}
)

// Config is the qemu source's block, with Packer's option names.
type Config struct {
	// ISOURL is the ISO to boot, or with DiskImage the base disk; one of
	// ISOURL and ISOURLs is required (as in Packer, even with DiskImage).
	ISOURL  string   `hcl:"iso_url"`
	ISOURLs []string `hcl:"iso_urls"`
	// ISOChecksum is "type:hex" (md5, sha1, sha256, sha512), a bare hex
	// digest, "file:URL" of a checksum file, or "none"; required.
	ISOChecksum        string `hcl:"iso_checksum"`
	ISOTargetPath      string `hcl:"iso_target_path"`
	ISOTargetExtension string `hcl:"iso_target_extension"`

	// DiskImage treats ISOURL as a disk image to start from.
	DiskImage bool `hcl:"disk_image"`
	// UseBackingFile makes the output an overlay on the (untouched) base
	// disk; only with DiskImage and qcow2.
	UseBackingFile bool `hcl:"use_backing_file"`
	// DiskSize is the disk's size; default 40960 MiB, or the base disk's
	// size with DiskImage (0 then).
	DiskSize         templates.Size `hcl:"disk_size"`
	SkipResizeDisk   bool           `hcl:"skip_resize_disk"`
	Format           string         `hcl:"format"`
	DiskCompression  bool           `hcl:"disk_compression"`
	SkipCompaction   bool           `hcl:"skip_compaction"`
	DiskInterface    string         `hcl:"disk_interface"`
	DiskCache        string         `hcl:"disk_cache"`
	DiskDiscard      string         `hcl:"disk_discard"`
	DiskDetectZeroes string         `hcl:"disk_detect_zeroes"`

	// CompressionType is the qcow2 compression with disk_compression:
	// "zlib" (the default, readable by every qemu) or "zstd" (faster;
	// qemu 5.1 or later reads it). A bake option; Packer has none.
	CompressionType string `hcl:"compression_type"`

	// Accelerator is auto (the default: kvm only where a guest really runs
	// under it, else tcg), none, kvm, tcg, hvf, whpx or xen. Packer's
	// default is kvm.
	Accelerator string `hcl:"accelerator"`
	MachineType string `hcl:"machine_type"`
	CPUs        int    `hcl:"cpus"`
	// Memory is in MiB; default 512.
	Memory     int    `hcl:"memory"`
	NetDevice  string `hcl:"net_device"`
	QemuBinary string `hcl:"qemu_binary"`
	// QemuArgs are extra switches, each a list of arguments; one that names
	// a switch bake sets replaces that switch only.
	QemuArgs [][]string `hcl:"qemuargs"`

	// CDFiles (paths or globs) and CDContent (name → content) go on a CD
	// labelled CDLabel (default "cidata", a cloud-init NoCloud seed).
	CDFiles   []string          `hcl:"cd_files"`
	CDContent map[string]string `hcl:"cd_content"`
	CDLabel   string            `hcl:"cd_label"`

	// HTTPDirectory or HTTPContent is served to the guest on a port from
	// HTTPPortMin..HTTPPortMax.
	HTTPDirectory   string            `hcl:"http_directory"`
	HTTPContent     map[string]string `hcl:"http_content"`
	HTTPPortMin     int               `hcl:"http_port_min"`
	HTTPPortMax     int               `hcl:"http_port_max"`
	HTTPBindAddress string            `hcl:"http_bind_address"`

	// BootCommand is typed into the guest through qemu's QMP monitor
	// after BootWait, in Packer's key syntax; BootSteps is the same as a
	// list of [keys, description] steps, each description printed before
	// its keys. BootKeyInterval is the pause after each key (default
	// 100ms).
	BootWait        time.Duration `hcl:"boot_wait"`
	BootCommand     []string      `hcl:"boot_command"`
	BootSteps       [][]string    `hcl:"boot_steps"`
	BootKeyInterval time.Duration `hcl:"boot_key_interval"`

	// HostPortMin..HostPortMax is the host port range forwarded to the
	// guest's SSH port; default 2222..4444.
	HostPortMin int `hcl:"host_port_min"`
	HostPortMax int `hcl:"host_port_max"`
	// SSHHostPortMin/Max are Packer's older names for HostPortMin/Max.
	SSHHostPortMin int `hcl:"ssh_host_port_min"`
	SSHHostPortMax int `hcl:"ssh_host_port_max"`

	VNCBindAddress string `hcl:"vnc_bind_address"`
	VNCPortMin     int    `hcl:"vnc_port_min"`
	VNCPortMax     int    `hcl:"vnc_port_max"`
	Headless       bool   `hcl:"headless"`
	// DisableVNC and VNCUsePassword are accepted for Packer templates:
	// bake never opens a VNC server (the boot command goes through QMP),
	// so VNC is always disabled and there is no password to set.
	DisableVNC     bool `hcl:"disable_vnc"`
	VNCUsePassword bool `hcl:"vnc_use_password"`

	// ShutdownCommand stops the guest gracefully; without it bake presses
	// the ACPI power button. Either way bake then waits up to
	// ShutdownTimeout (default 5m) for qemu to exit before forcing it.
	ShutdownCommand string        `hcl:"shutdown_command"`
	ShutdownTimeout time.Duration `hcl:"shutdown_timeout"`

	// OutputDirectory defaults to "output-<source name>"; VMName, the
	// disk's file name, to "packer-<source name>".
	OutputDirectory string `hcl:"output_directory"`
	VMName          string `hcl:"vm_name"`

	// Hardware is the CPU, display, firmware, UEFI and vTPM options
	// (hardware.go).
	Hardware

	// Media is the floppy, additional disk, qemu_img_args and
	// skip_nat_mapping options (media.go).
	Media

	communicator.Config
}

var _ templates.Config = (*Config)(nil)

// Prepare validates the block and fills in defaults.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.ExactlyOne(diags, "iso_url", "iso_urls")
	if b.Known("iso_urls") && len(c.ISOURLs) == 0 {
		diags = append(diags, b.Error("iso_urls", "Invalid value", `"iso_urls" is empty.`))
	}
	if b.Known("iso_url") && c.ISOURL == "" {
		diags = append(diags, b.Error("iso_url", "Invalid value", `"iso_url" is empty.`))
	}
	diags = b.Required(diags, "iso_checksum")
	if b.Known("iso_checksum") {
		if msg := checkChecksum(c.ISOChecksum); msg != "" {
			diags = append(diags, b.Error("iso_checksum", "Invalid checksum", msg))
		}
	}

	if b.Known("use_backing_file") && c.UseBackingFile && !b.IsUnknown("disk_image") && !c.DiskImage {
		diags = append(diags, b.Error("use_backing_file", "Option needs disk_image",
			`"use_backing_file" overlays the base disk, so it needs disk_image = true.`))
	}
	if !b.Has("format") {
		c.Format = DefaultFormat
	} else if b.Known("format") {
		c.Format = strings.ToLower(c.Format)
		diags = b.OneOf(diags, "format", c.Format, Formats...)
	}
	if c.Format == "raw" {
		if b.Known("use_backing_file") && c.UseBackingFile {
			diags = append(diags, b.Error("use_backing_file", "Option needs qcow2",
				`A backing file needs format = "qcow2"; a raw disk cannot have one.`))
		}
		if b.Known("disk_compression") && c.DiskCompression {
			diags = append(diags, b.Warning("disk_compression", "Option ignored", `Only qcow2 disks can be compressed.`))
		}
	}
	if b.Known("compression_type") {
		c.CompressionType = strings.ToLower(c.CompressionType)
		diags = b.OneOf(diags, "compression_type", c.CompressionType, "zlib", "zstd")
		if !c.DiskCompression && (b.Known("disk_compression") || !b.Has("disk_compression")) {
			diags = append(diags, b.Warning("compression_type", "Option ignored", `"compression_type" applies only with disk_compression = true.`))
		}
	}
	if !b.Has("disk_size") && !c.DiskImage {
		c.DiskSize = DefaultDiskSize
	}
	if b.Known("disk_size") && c.DiskSize > 0 && c.DiskSize < 1<<20 {
		diags = append(diags, b.Error("disk_size", "Invalid value", `"disk_size" must be at least 1M; a bare number is in mebibytes.`))
	}

	diags = enum(b, diags, "disk_interface", &c.DiskInterface, DefaultDiskInterface, DiskInterfaces)
	diags = enum(b, diags, "disk_cache", &c.DiskCache, "writeback", DiskCaches)
	diags = enum(b, diags, "disk_discard", &c.DiskDiscard, "ignore", DiskDiscards)
	diags = enum(b, diags, "disk_detect_zeroes", &c.DiskDetectZeroes, "off", DiskDetectZeroes)
	diags = enum(b, diags, "accelerator", &c.Accelerator, DefaultAccelerator, Accelerators)
	diags = enum(b, diags, "net_device", &c.NetDevice, DefaultNetDevice, NetDevices)
	if !b.Has("machine_type") {
		c.MachineType = DefaultMachineType
	}
	if !b.Has("qemu_binary") {
		c.QemuBinary = DefaultQemuBinary
	}
	diags = atLeast(b, diags, "cpus", &c.CPUs, DefaultCPUs, 1)
	diags = atLeast(b, diags, "memory", &c.Memory, DefaultMemory, 16)
	diags = c.prepareHardware(b, diags)
	for i, arg := range c.QemuArgs {
		if len(arg) == 0 || !strings.HasPrefix(arg[0], "-") {
			diags = append(diags, b.ElementErrorf("qemuargs", i, "Invalid qemu argument",
				`Each entry of "qemuargs" is a switch and its values, like ["-m", "1024"]; entry %d does not start with a switch.`, i+1))
		}
	}

	if b.Known("cd_files") {
		for i, f := range c.CDFiles {
			if strings.ContainsAny(f, "*?[") {
				continue
			}
			if err := templates.CheckReadable(f, true); err != nil {
				diags = append(diags, b.ElementErrorf("cd_files", i, "File not found", "%s.", err))
			}
		}
	}
	if !b.Has("cd_label") {
		c.CDLabel = DefaultCDLabel
	}
	if b.Known("http_directory") {
		if err := templates.CheckReadable(c.HTTPDirectory, true); err != nil {
			diags = append(diags, b.Errorf("http_directory", "Directory not found", "%s.", err))
		}
	}
	diags = b.AtMostOne(diags, "http_directory", "http_content")
	if !b.Has("http_bind_address") {
		c.HTTPBindAddress = "0.0.0.0"
	}
	diags = portRange(b, diags, "http_port_min", "http_port_max", &c.HTTPPortMin, &c.HTTPPortMax, DefaultHTTPPortMin, DefaultHTTPPortMax)

	if !b.Has("boot_wait") {
		c.BootWait = DefaultBootWait
	}
	diags = c.prepareBoot(b, diags)
	for old, cur := range map[string]string{"ssh_host_port_min": "host_port_min", "ssh_host_port_max": "host_port_max"} {
		if !b.Has(old) {
			continue
		}
		if b.Has(cur) {
			diags = b.AtMostOne(diags, cur, old)
			continue
		}
		diags = append(diags, b.Warningf(old, "Deprecated option", "%q is the old name of %q; use %q.", old, cur, cur))
		b.Attrs[cur] = b.Attrs[old]
		if b.IsUnknown(old) {
			b.Unknown[cur] = true
		}
		if cur == "host_port_min" {
			c.HostPortMin = c.SSHHostPortMin
		} else {
			c.HostPortMax = c.SSHHostPortMax
		}
	}
	diags = portRange(b, diags, "host_port_min", "host_port_max", &c.HostPortMin, &c.HostPortMax, DefaultHostPortMin, DefaultHostPortMax)
	diags = portRange(b, diags, "vnc_port_min", "vnc_port_max", &c.VNCPortMin, &c.VNCPortMax, DefaultVNCPortMin, DefaultVNCPortMax)
	if !b.Has("vnc_bind_address") {
		c.VNCBindAddress = DefaultVNCBindAddress
	}

	if !b.Has("shutdown_timeout") {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}

	name := b.Name
	if name == "" {
		name = "qemu"
	}
	if !b.Has("output_directory") {
		c.OutputDirectory = "output-" + name
	}
	if !b.Has("vm_name") {
		c.VMName = "packer-" + name
	} else if b.Known("vm_name") && (c.VMName == "" || strings.ContainsRune(c.VMName, '/')) {
		diags = append(diags, b.Errorf("vm_name", "Invalid value", `"vm_name" is the disk's file name; it must not be empty or contain "/", not %q.`, c.VMName))
	}

	diags = append(diags, c.Config.Prepare(b)...)
	if c.Type == communicator.SSH {
		diags = b.Required(diags, "ssh_username")
	}
	diags = c.prepareMedia(b, diags)
	return diags
}

// checkChecksum returns what is wrong with an iso_checksum value, or "".
func checkChecksum(s string) string {
	if strings.EqualFold(s, "none") {
		return ""
	}
	typ, sum, ok := strings.Cut(s, ":")
	if !ok {
		typ, sum = "", s
	}
	typ = strings.ToLower(typ)
	if typ == "file" {
		if sum == "" {
			return `"file:" must be followed by the URL or path of a checksum file.`
		}
		return ""
	}
	lengths := map[string]int{"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
	if sum == "" || strings.Trim(strings.ToLower(sum), "0123456789abcdef") != "" {
		return `"iso_checksum" must be "sha256:<hex>" (or md5, sha1, sha512), "file:<url>" or "none"; ` + strconv.Quote(sum) + " is not a hex digest."
	}
	if typ == "" {
		for _, n := range lengths {
			if len(sum) == n {
				return ""
			}
		}
		return "A bare digest of " + strconv.Itoa(len(sum)) + " hex digits matches no checksum type; write it as \"sha256:<hex>\"."
	}
	n, ok := lengths[typ]
	if !ok {
		return strconv.Quote(typ) + ` is not a checksum type; use md5, sha1, sha256, sha512, "file:<url>" or "none".`
	}
	if len(sum) != n {
		return "A " + typ + " digest has " + strconv.Itoa(n) + " hex digits, not " + strconv.Itoa(len(sum)) + "."
	}
	return ""
}

// enum defaults the string attribute name to def, or checks it is one of
// allowed.
func enum(b *templates.Body, diags hcl.Diagnostics, name string, v *string, def string, allowed []string) hcl.Diagnostics {
	if !b.Has(name) {
		*v = def
		return diags
	}
	if b.Known(name) {
		*v = strings.ToLower(*v)
		diags = b.OneOf(diags, name, *v, allowed...)
	}
	return diags
}

// atLeast defaults the int attribute name to def, or checks it is at least
// min.
func atLeast(b *templates.Body, diags hcl.Diagnostics, name string, v *int, def, min int) hcl.Diagnostics {
	if !b.Has(name) {
		*v = def
		return diags
	}
	if b.Known(name) && *v < min {
		diags = append(diags, b.Errorf(name, "Invalid value", "%q must be at least %d, not %d.", name, min, *v))
	}
	return diags
}

// portRange defaults and checks a min..max port range.
func portRange(b *templates.Body, diags hcl.Diagnostics, minName, maxName string, lo, hi *int, defLo, defHi int) hcl.Diagnostics {
	if !b.Has(minName) {
		*lo = defLo
	}
	if !b.Has(maxName) {
		*hi = defHi
	}
	bad := false
	for _, p := range []struct {
		name string
		v    int
	}{{minName, *lo}, {maxName, *hi}} {
		if b.Known(p.name) && (p.v < 1 || p.v > 65535) {
			diags = append(diags, b.Errorf(p.name, "Invalid value", "%q must be a TCP port from 1 to 65535, not %d.", p.name, p.v))
			bad = true
		}
	}
	if !bad && !b.IsUnknown(minName) && !b.IsUnknown(maxName) && *lo > *hi {
		at := maxName
		if !b.Has(maxName) {
			at = minName
		}
		diags = append(diags, b.Errorf(at, "Invalid port range",
			"%q (%d) is greater than %q (%d).", minName, *lo, maxName, *hi))
	}
	return diags
}

// prepareBoot checks boot_command or boot_steps: each entry's keys are
// parsed now (its {{ }} masked), so an unknown <key> is reported at
// validate, at the entry.
func (c *Config) prepareBoot(b *templates.Body, diags hcl.Diagnostics) hcl.Diagnostics {
	diags = b.AtMostOne(diags, "boot_command", "boot_steps")
	if !b.Has("boot_key_interval") {
		c.BootKeyInterval = DefaultBootKeyInterval
		// Packer's environment default for the key interval.
		if v := os.Getenv("PACKER_KEY_INTERVAL"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				diags = append(diags, b.Errorf("boot_key_interval", "Invalid PACKER_KEY_INTERVAL",
					`The environment variable PACKER_KEY_INTERVAL, boot_key_interval's default, must be a duration like "100ms", not %q.`, v))
			} else {
				c.BootKeyInterval = d
			}
		}
	}
	if b.Known("boot_command") {
		for i, cmd := range c.BootCommand {
			if _, err := parseBootCommand(maskTemplates(cmd)); err != nil {
				diags = append(diags, b.ElementErrorf("boot_command", i, "Invalid boot command", "Entry %d: %s.", i+1, err))
			}
		}
	}
	if b.Known("boot_steps") {
		for i, st := range c.BootSteps {
			if len(st) < 1 || len(st) > 2 {
				diags = append(diags, b.ElementErrorf("boot_steps", i, "Invalid boot step",
					`Each entry of "boot_steps" is ["<keys>", "description"] (the description may be left out); entry %d has %d elements.`, i+1, len(st)))
				continue
			}
			if _, err := parseBootCommand(maskTemplates(st[0])); err != nil {
				diags = append(diags, b.ElementErrorf("boot_steps", i, "Invalid boot step", "Entry %d: %s.", i+1, err))
			}
		}
	}
	return diags
}
