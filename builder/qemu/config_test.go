package qemu

import (
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

// base is a minimal valid qemu block; cases append to it, so their lines
// start at 4.
const base = `iso_url = "base.qcow2"
iso_checksum = "none"
ssh_username = "root"
`

const emptySHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestPrepare(t *testing.T) {
	configtest.Run(t, "qemu", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "minimal", Src: base},
		{Name: "disk image with backing file", Src: base + "disk_image = true\nuse_backing_file = true\ndisk_size = \"10G\"\nformat = \"qcow2\""},
		{Name: "checksum forms", Src: "iso_url = \"x\"\nssh_username = \"u\"\niso_checksum = \"" + emptySHA256 + "\""},
		{Name: "bare digest", Src: "iso_url = \"x\"\nssh_username = \"u\"\niso_checksum = \"d41d8cd98f00b204e9800998ecf8427e\""},
		{Name: "checksum file", Src: "iso_url = \"x\"\nssh_username = \"u\"\niso_checksum = \"file:https://example.com/SHA256SUMS\""},
		{Name: "iso_urls", Src: "iso_urls = [\"a\", \"b\"]\niso_checksum = \"none\"\nssh_username = \"u\""},
		{Name: "no communicator", Src: "iso_url = \"x\"\niso_checksum = \"none\"\ncommunicator = \"none\""},
		{Name: "qemuargs", Src: base + "qemuargs = [[\"-m\", \"1024\"], [\"-kernel\", \"vmlinuz\"]]"},
		{Src: "iso_checksum = \"none\"\nssh_username = \"u\"", Want: `needs exactly one of "iso_url", "iso_urls"`},
		{Src: "iso_url = \"a\"\niso_urls = [\"b\"]\niso_checksum = \"none\"\nssh_username = \"u\"", Want: "Conflicting options", Line: 2},
		{Src: "iso_url = \"a\"\nssh_username = \"u\"", Want: `needs the option "iso_checksum"`},
		{Src: "iso_url = \"a\"\nssh_username = \"u\"\niso_checksum = \"sha256:abc\"", Want: "A sha256 digest has 64 hex digits, not 3", Line: 3},
		{Src: "iso_url = \"a\"\nssh_username = \"u\"\niso_checksum = \"sha3:abcd\"", Want: `"sha3" is not a checksum type`, Line: 3},
		{Src: "iso_url = \"a\"\nssh_username = \"u\"\niso_checksum = \"sha256:xyz\"", Want: "is not a hex digest", Line: 3},
		{Src: "iso_url = \"a\"\nssh_username = \"u\"\niso_checksum = \"file:\"", Want: `"file:" must be followed by`, Line: 3},
		{Src: "iso_url = \"a\"\niso_checksum = \"none\"", Want: `needs the option "ssh_username"`},
		{Src: base + "use_backing_file = true", Want: "needs disk_image = true", Line: 4},
		{Src: base + "disk_image = true\nuse_backing_file = true\nformat = \"raw\"", Want: `A backing file needs format = "qcow2"`, Line: 5},
		{Src: base + "format = \"vmdk\"", Want: `"vmdk" is not a valid value for "format"; it must be one of "qcow2", "raw"`, Line: 4},
		{Src: base + "format = \"raw\"\ndisk_compression = true", Want: "Only qcow2 disks can be compressed", Line: 5, Warning: true},
		{Src: base + "disk_size = \"10 gigs\"", Want: "not a size", Line: 4},
		{Src: base + "disk_size = \"100K\"", Want: `"disk_size" must be at least 1M`, Line: 4},
		{Src: base + "accelerator = \"kmv\"", Want: `Did you mean "kvm"?`, Line: 4},
		{Src: base + "disk_interface = \"virtio-sci\"", Want: `Did you mean "virtio-scsi"?`, Line: 4},
		{Src: base + "net_device = \"e1001\"", Want: `Did you mean "e1000"?`, Line: 4},
		{Src: base + "cpus = 0", Want: `"cpus" must be at least 1, not 0`, Line: 4},
		{Src: base + "memory = 4", Want: `"memory" must be at least 16, not 4`, Line: 4},
		{Name: "bad memory said once", Src: base + "memory = \"lots\"", Want: "number required", Line: 4},
		{Src: base + "qemuargs = [\n  [\"-m\", \"1024\"],\n  [\"m\", \"1\"],\n]", Want: "entry 2 does not start with a switch", Line: 6},
		{Src: base + "host_port_min = 5000\nhost_port_max = 4000", Want: `"host_port_min" (5000) is greater than "host_port_max" (4000)`, Line: 5},
		{Src: base + "host_port_min = 5000", Want: `"host_port_min" (5000) is greater than "host_port_max" (4444)`, Line: 4},
		{Src: base + "host_port_max = 70000", Want: `"host_port_max" must be a TCP port`, Line: 4},
		{Src: base + "vnc_port_min = 6001", Want: `"vnc_port_min" (6001) is greater`, Line: 4},
		{Src: base + "http_port_min = 9001", Want: `"http_port_min" (9001) is greater`, Line: 4},
		{Src: base + "ssh_host_port_min = 3000", Want: `"ssh_host_port_min" is the old name of "host_port_min"`, Line: 4, Warning: true},
		{Src: base + "ssh_host_port_min = 5000", Want: `"host_port_min" (5000) is greater`, Line: 4},
		{Src: base + "http_directory = \".\"\nhttp_content = {}", Want: "Conflicting options", Line: 5},
		{Src: base + "http_directory = \"no-such-dir\"", Want: `there is no file "no-such-dir"`, Line: 4},
		{Src: base + "cd_files = [\"config_test.go\", \"missing.yaml\", \"*.cfg\"]", Want: `there is no file "missing.yaml"`, Line: 4},
		{Name: "shutdown_timeout bounds the power button too", Src: base + "shutdown_timeout = \"1m\""},
		{Src: base + "vm_name = \"a/b\"", Want: `"vm_name" is the disk's file name`, Line: 4},
		{Src: base + "boot_wait = \"soon\"", Want: "not a duration", Line: 4},
		{Name: "boot_command", Src: base + "boot_command = [\"<esc><wait>\", \"linux ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg<enter>\"]\nboot_key_interval = \"10ms\""},
		{Name: "vnc options of Packer templates", Src: base + "disable_vnc = true\nvnc_use_password = true\nboot_command = [\"<enter>\"]"},
		{Name: "boot_steps", Src: base + "boot_steps = [[\"<tab><wait5>\", \"open the menu\"], [\"<enter>\"]]"},
		{Src: base + "boot_command = [\n  \"<esc>\",\n  \"<ender>\",\n]", Want: "Entry 2: at byte 1: unknown key <ender> (did you mean <enter>?)", Line: 6},
		{Src: base + "boot_steps = [[\"<f13>\", \"menu\"]]", Want: "unknown key <f13>", Line: 4},
		{Src: base + "boot_steps = [[\"a\", \"b\", \"c\"]]", Want: "entry 1 has 3 elements", Line: 4},
		{Src: base + "boot_command = [\"<wait>\"]\nboot_steps = [[\"<enter>\"]]", Want: "Conflicting options", Line: 5},
		{Src: base + "boot_command = [\"<waitabit>\"]", Want: "<waitabit> is not a wait", Line: 4},
		{Name: "unknown skipped", Src: base + "memory = build.ID\nhost_port_min = build.Port"},
	})
}

func TestPrepareDefaults(t *testing.T) {
	var c Config
	configtest.MustPrepare(t, "qemu", base, &c)
	if c.DiskSize != 40960<<20 || c.Format != "qcow2" || c.Accelerator != "auto" || c.MachineType != "pc" ||
		c.CPUs != 1 || c.Memory != 512 || c.NetDevice != "virtio-net" || c.DiskInterface != "virtio" ||
		c.QemuBinary != "qemu-system-x86_64" || c.CDLabel != "cidata" || c.BootWait != 10*time.Second ||
		c.HostPortMin != 2222 || c.HostPortMax != 4444 || c.VNCPortMin != 5900 || c.VNCPortMax != 6000 ||
		c.HTTPPortMin != 8000 || c.HTTPPortMax != 9000 || c.ShutdownTimeout != 5*time.Minute ||
		c.OutputDirectory != "output-test" || c.VMName != "packer-test" ||
		c.Type != "ssh" || c.Port != 22 || c.Timeout != 5*time.Minute {
		t.Fatalf("defaults not filled: %+v", c)
	}

	var d Config
	configtest.MustPrepare(t, "qemu", base+"disk_image = true\nssh_host_port_min = 3000\nssh_host_port_max = 3001\nmemory = \"2048\"\naccelerator = \"TCG\"", &d)
	if d.DiskSize != 0 || d.HostPortMin != 3000 || d.HostPortMax != 3001 || d.Memory != 2048 || d.Accelerator != "tcg" {
		t.Fatalf("disk image keeps base size, old port names, memory as string, accelerator case: %+v", d)
	}
}
