package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

// TestPrepareMedia: the floppy, additional disk, qemu_img_args and
// skip_nat_mapping options are checked at validate, at the attribute.
func TestPrepareMedia(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.cfg", "b.cfg", "sub/c.txt"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, make([]byte, 1500<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return `"` + s + `"` }
	configtest.Run(t, "qemu", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "floppy", Src: base + "floppy_files = [" + q(dir+"/*.cfg") + ", " + q(dir+"/sub") + "]\nfloppy_dirs = [" + q(dir+"/sub") + "]\nfloppy_content = { \"ks.cfg\" = \"text\" }\nfloppy_label = \"OEMDRV\""},
		{Name: "floppy on q35", Src: base + "machine_type = \"q35\"\nfloppy_content = { a = \"b\" }"},
		{Name: "floppy on a versioned pc", Src: base + "machine_type = \"pc-i440fx-7.2\"\nfloppy_content = { a = \"b\" }"},
		{Src: base + "floppy_files = [\n  " + q(dir+"/a.cfg") + ",\n  " + q(dir+"/missing.cfg") + ",\n]", Want: "missing.cfg", Line: 6},
		{Src: base + "floppy_files = [" + q(dir+"/*.iso") + "]", Want: "matches no file", Line: 4},
		{Src: base + "floppy_dirs = [" + q(dir+"/nodir") + "]", Want: "nodir", Line: 4},
		{Src: base + "floppy_files = [" + q(big) + "]", Want: "a 1.44 MB floppy holds 1423 KiB", Line: 4},
		{Src: base + "floppy_content = { a = \"b\" }\nfloppy_label = \"A-VERY-LONG-LABEL\"", Want: "1 to 11 characters, not 17", Line: 5},
		{Src: base + "floppy_content = { a = \"b\" }\nfloppy_label = \"a.b\"", Want: `"a.b": a FAT volume label`, Line: 5},
		{Src: base + "floppy_content = { \"/\" = \"b\" }", Want: `"/" is not a file name`, Line: 4},
		{Src: base + "machine_type = \"microvm\"\nfloppy_content = { a = \"b\" }", Want: `"microvm" has none`, Line: 4},
		{Name: "additional disks", Src: base + "disk_additional_size = [\"64M\", 1024, \"1G\"]"},
		{Src: base + "disk_additional_size = [\"64M\", \"lots\"]", Want: "not a size", Line: 4},
		{Src: base + "disk_additional_size = [\n  \"512K\",\n]", Want: "at least 1M", Line: 5},
		{Src: base + "disk_interface = \"sata\"\ndisk_additional_size = [1, 2, 3, 4, 5, 6]", Want: "at most 5 more, not 6", Line: 5},
		{Name: "qemu_img_args", Src: base + "qemu_img_args {\n  create = [\"-o\", \"cluster_size=128k\"]\n  convert = [\"-W\"]\n  resize = [\"--preallocation=off\"]\n}"},
		{Src: base + "qemu_img_args {\n  convert = [\"-W\", \"\"]\n}", Want: "Entry 2 is empty", Line: 5},
		{Src: base + "skip_nat_mapping = true", Want: `set "ssh_host"`, Line: 4},
		{Name: "skip_nat_mapping with ssh_host", Src: base + "skip_nat_mapping = true\nssh_host = \"192.168.122.10\""},
		{Name: "skip_nat_mapping without communicator", Src: "iso_url = \"x\"\niso_checksum = \"none\"\ncommunicator = \"none\"\nskip_nat_mapping = true"},
		{Src: base + "skip_nat_mapping = true\nssh_host = \"h\"\nhost_port_min = 3000", Want: `"host_port_min" has no effect with skip_nat_mapping`, Line: 6, Warning: true},
		{Src: base + "floppy_labl = \"x\"", Want: "floppy_label"},
	})
}

func TestPrepareMediaDefaults(t *testing.T) {
	var c Config
	configtest.MustPrepare(t, "qemu", base+"floppy_content = { a = \"b\" }\ndisk_additional_size = [\"64M\", 2]", &c)
	if c.FloppyLabel != "packer" || !reflect.DeepEqual(c.additionalSizes, []int64{64 << 20, 2 << 20}) || c.BootKeyInterval != DefaultBootKeyInterval {
		t.Errorf("floppy_label %q, sizes %v, key interval %s", c.FloppyLabel, c.additionalSizes, c.BootKeyInterval)
	}

	t.Setenv("PACKER_KEY_INTERVAL", "35ms")
	var d Config
	configtest.MustPrepare(t, "qemu", base, &d)
	if d.BootKeyInterval != 35*time.Millisecond {
		t.Errorf("boot_key_interval %s with PACKER_KEY_INTERVAL=35ms", d.BootKeyInterval)
	}
	var e Config
	configtest.MustPrepare(t, "qemu", base+"boot_key_interval = \"5ms\"", &e)
	if e.BootKeyInterval != 5*time.Millisecond {
		t.Errorf("boot_key_interval %s, set to 5ms with PACKER_KEY_INTERVAL=35ms", e.BootKeyInterval)
	}
	t.Setenv("PACKER_KEY_INTERVAL", "fast")
	configtest.Run(t, "qemu", func() templates.Config { return new(Config) }, []configtest.Case{
		{Src: base, Want: `PACKER_KEY_INTERVAL, boot_key_interval's default, must be a duration like "100ms", not "fast"`},
	})
}

// mediaArgs is the qemu command line of a builder for src, with made-up
// paths, before anything runs.
func mediaArgs(t *testing.T, src string, s *state) []string {
	t.Helper()
	b, _ := newBuilder(t, src, builder.Options{})
	s.tmpDir, s.outDir, s.work, s.accel, s.console = "/tmp/bq", "/out", "/out/.disk.work", "tcg", "/tmp/bq/console.log"
	argv, err := b.qemuArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	return argv
}

// TestMediaQemuArgs: the floppy and the additional disks are attached,
// on each disk_interface; skip_nat_mapping forwards no port.
func TestMediaQemuArgs(t *testing.T) {
	line := func(argv []string) string { return strings.Join(argv, " ") }
	extra := []string{"/out/.disk-1.work", "/out/.disk-2.work"}
	tests := []struct {
		name, src string
		want      []string
	}{
		{"virtio", base + "disk_image = true\nformat = \"raw\"", []string{
			"-drive file=/out/.disk.work,format=raw,cache=writeback,discard=ignore,detect-zeroes=off,if=virtio",
			"-drive file=/out/.disk-1.work,format=raw,cache=writeback,discard=ignore,detect-zeroes=off,if=virtio",
			"-drive file=/out/.disk-2.work,format=raw,cache=writeback,discard=ignore,detect-zeroes=off,if=virtio",
			"-drive file=/tmp/bq/floppy.img,if=floppy,index=0,format=raw",
			"-netdev user,id=user.0,hostfwd=tcp:127.0.0.1:2345-:22"}},
		{"backing file: the extra disks are plain", base + "disk_image = true\nuse_backing_file = true", []string{
			"-drive file=/out/.disk.work,format=qcow2,",
			"-drive file=/out/.disk-1.work,format=qcow2,"}},
		{"virtio-scsi", base + "disk_image = true\ndisk_interface = \"virtio-scsi\"", []string{
			"-device virtio-scsi-pci,id=scsi0 -device scsi-hd,bus=scsi0.0,drive=drive0 -drive file=/out/.disk.work,",
			",if=none,id=drive0 -device scsi-hd,bus=scsi0.0,drive=drive1 -drive file=/out/.disk-1.work,",
			",if=none,id=drive1 -device scsi-hd,bus=scsi0.0,drive=drive2 -drive file=/out/.disk-2.work,"}},
		{"scsi", base + "disk_image = true\ndisk_interface = \"scsi\"", []string{
			"-device lsi53c895a,id=scsi0 -device scsi-hd,bus=scsi0.0,scsi-id=0,drive=drive0 -drive file=/out/.disk.work,",
			",if=none,id=drive0 -device scsi-hd,bus=scsi0.0,scsi-id=1,drive=drive1 -drive file=/out/.disk-1.work,"}},
		{"sata", base + "disk_image = true\ndisk_interface = \"sata\"", []string{
			"-device ahci,id=ahci0 -device ide-hd,bus=ahci0.0,drive=drive0 -drive file=/out/.disk.work,",
			"-device ide-hd,bus=ahci0.1,drive=drive1 -drive file=/out/.disk-1.work,",
			"-device ide-hd,bus=ahci0.2,drive=drive2 -drive file=/out/.disk-2.work,"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &state{port: &heldPort{Port: 2345}}
			s.media = mediaState{floppy: "/tmp/bq/floppy.img", extra: extra}
			got := line(mediaArgs(t, tt.src, s))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("command line lacks %q:\n%s", w, got)
				}
			}
		})
	}
	t.Run("skip_nat_mapping", func(t *testing.T) {
		got := line(mediaArgs(t, base+"disk_image = true\nskip_nat_mapping = true\nssh_host = \"192.0.2.7\"\nqemuargs = [[\"-device\", \"virtio-rng-pci,id=p{{ .SSHHostPort }}\"]]", &state{}))
		if !strings.Contains(got, "-netdev user,id=user.0 ") || strings.Contains(got, "hostfwd") || strings.Contains(got, "floppy") || !strings.Contains(got, "id=p0") {
			t.Errorf("command line:\n%s", got)
		}
	})
}

func TestImgArgs(t *testing.T) {
	var c Config
	configtest.MustPrepare(t, "qemu", base+"qemu_img_args {\n  create = [\"-o\", \"cluster_size=128k\"]\n  convert = [\"-W\"]\n}", &c)
	for _, tt := range []struct {
		got, want []string
	}{
		{c.imgArgs("create", []string{"-q", "-f", "qcow2"}, "/d", "1024"), []string{"create", "-q", "-f", "qcow2", "-o", "cluster_size=128k", "/d", "1024"}},
		{c.imgArgs("convert", []string{"-O", "raw"}, "/a", "/b"), []string{"convert", "-O", "raw", "-W", "/a", "/b"}},
		{c.imgArgs("resize", []string{"-q"}, "/d", "10"), []string{"resize", "-q", "/d", "10"}},
	} {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestCreateDisksWithImgArgs runs the disk steps for real: qemu_img_args'
// create options reach the working disk and the additional disks, which
// have the sizes asked for; the cleanup removes them.
func TestCreateDisksWithImgArgs(t *testing.T) {
	dir := t.TempDir()
	b, _ := newBuilder(t, `iso_url = "x.iso"
iso_checksum = "none"
communicator = "none"
disk_size = "20M"
vm_name = "disk"
disk_additional_size = ["64M", 3]
qemu_img_args {
  create = ["-o", "cluster_size=128k"]
}
`, builder.Options{})
	s := &state{ui: newUI(t), outDir: dir}
	ctx := context.Background()
	if err := b.createDisk(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := b.createAdditional(ctx, s); err != nil {
		t.Fatal(err)
	}
	type info struct {
		VirtualSize int64 `json:"virtual-size"`
		ClusterSize int64 `json:"cluster-size"`
	}
	for i, want := range []int64{20 << 20, 64 << 20, 3 << 20} {
		p := s.work
		if i > 0 {
			p = s.media.extra[i-1]
			if base := filepath.Base(p); !strings.HasPrefix(base, ".disk-"+itoa(i)+".") {
				t.Errorf("additional disk %d is %s", i, base)
			}
		}
		img := qemuInfo(t, p)
		out, _ := exec.Command("qemu-img", "info", p).Output()
		if img.VirtualSize != want || img.Format != "qcow2" || !strings.Contains(string(out), "cluster_size: 131072") {
			t.Errorf("disk %d: %+v\n%s", i, img, out)
		}
	}
	removeAdditional(ctx, s)
	removeWorkDisk(ctx, s)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("cleanup left %d files", len(ents))
	}
}

// TestFloppyImage writes a floppy as a build does and reads it back with
// mtools: the label, floppy_files flat (a glob, a directory's files),
// floppy_dirs with their structure, floppy_content winning over a file of
// the same name. Too many files fail with a clear error.
func TestFloppyImage(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"ks.cfg": "kickstart\n", "extra.cfg": "from a glob\n", "notes.txt": "not matched\n",
		"drivers/net/e1000.inf": "driver\n", "drivers/README": "readme\n",
		"flat/deep/one.txt": "one\n", "same.txt": "the file\n",
	}
	for name, text := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	img := filepath.Join(tmp, "floppy.img")
	err := makeFloppy(context.Background(), img, "OEMDRV", filepath.Join(tmp, "stage"),
		[]string{src + "/*.cfg", src + "/flat", src + "/same.txt"},
		[]string{src + "/drivers"},
		map[string]string{"same.txt": "the content\n", "cfg/user-data": "#cloud-config\n"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(img); err != nil || fi.Size() != 1440<<10 {
		t.Fatalf("image %v %v", fi, err)
	}
	mtools := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
		return string(out)
	}
	if out := mtools("mlabel", "-s", "-i", img, "::"); !strings.Contains(out, "OEMDRV") {
		t.Errorf("label: %s", out)
	}
	for name, want := range map[string]string{
		"::/ks.cfg": "kickstart\n", "::/extra.cfg": "from a glob\n", "::/one.txt": "one\n",
		"::/drivers/net/e1000.inf": "driver\n", "::/drivers/README": "readme\n",
		"::/same.txt": "the content\n", "::/cfg/user-data": "#cloud-config\n",
	} {
		if got := mtools("mtype", "-i", img, name); got != want {
			t.Errorf("%s reads %q, want %q", name, got, want)
		}
	}
	root := mtools("mdir", "-b", "-i", img, "::/")
	for _, absent := range []string{"notes.txt", "flat", "deep"} {
		if strings.Contains(root, absent) {
			t.Errorf("root holds %s:\n%s", absent, root)
		}
	}

	big := filepath.Join(src, "big.bin")
	if err := os.WriteFile(big, make([]byte, 1500<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	err = makeFloppy(context.Background(), filepath.Join(tmp, "big.img"), "packer", filepath.Join(tmp, "stage2"), []string{big}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "do not fit on a 1.44 MB floppy") {
		t.Errorf("too big: %v", err)
	}
}

// TestCreateDiskFromImage: with disk_image, the working disk is a qcow2
// overlay on the base (the output is converted from it), or a copy where
// it becomes the output itself (skip_compaction) or qemu_img_args were
// written for the copy; disk_size grows it (through qemu_img_args' resize
// arguments) unless skip_resize_disk; use_backing_file makes an overlay;
// the base is never changed.
func TestCreateDiskFromImage(t *testing.T) {
	dir := t.TempDir()
	baseDisk := filepath.Join(dir, "base.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", baseDisk, "20M").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sum := fileSHA256(t, baseDisk)
	for _, tt := range []struct {
		name, extra string
		size        int64
		backing     string
		err         string
	}{
		{"grown", `disk_size = "64M"`, 64 << 20, baseDisk, ""},
		{"skip_resize_disk", "disk_size = \"64M\"\nskip_resize_disk = true", 20 << 20, baseDisk, ""},
		{"copy for skip_compaction", "disk_size = \"64M\"\nskip_compaction = true", 64 << 20, "", ""},
		{"copy for convert arguments", "qemu_img_args {\n  convert = [\"-S\", \"64k\"]\n}", 20 << 20, "", ""},
		{"overlay grown", "disk_size = \"32M\"\nuse_backing_file = true", 32 << 20, baseDisk, ""},
		{"resize arguments", "disk_size = \"64M\"\nqemu_img_args {\n  resize = [\"--preallocation=bogus\"]\n}", 0, "", "bogus"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			os.Mkdir(out, 0o755)
			b, _ := newBuilder(t, "iso_url = "+`"`+baseDisk+`"`+"\niso_checksum = \"none\"\ncommunicator = \"none\"\ndisk_image = true\n"+tt.extra, builder.Options{})
			s := &state{ui: newUI(t), outDir: out, base: baseDisk}
			ctx := context.Background()
			var err error
			if s.baseInfo, err = inspectDisk(ctx, baseDisk); err != nil {
				t.Fatal(err)
			}
			err = b.createDisk(ctx, s)
			defer removeWorkDisk(ctx, s)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), "qemu-img resize") || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want qemu-img resize's complaint about %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img := qemuInfo(t, s.work)
			if img.VirtualSize != tt.size || img.BackingFile != tt.backing {
				t.Errorf("working disk %+v, want size %d, backing %q", img, tt.size, tt.backing)
			}
		})
	}
	if fileSHA256(t, baseDisk) != sum {
		t.Error("the base disk changed")
	}
}

// TestMediaAttachedQ35 starts qemu, paused (no guest boots), with a floppy
// and an additional disk on a q35 machine and skip_nat_mapping, and asks
// its monitor what is attached: the floppy drive holds the image, the
// second virtio disk the additional disk. Then it stops qemu and the
// cleanups leave nothing.
func TestMediaAttachedQ35(t *testing.T) {
	if testing.Short() {
		t.Skip("starts qemu")
	}
	// virtio (the default) and scsi, which qemu refuses as -drive if=scsi.
	for _, iface := range []string{"virtio", "scsi"} {
		t.Run(iface, func(t *testing.T) { testMediaAttachedQ35(t, iface) })
	}
}

func testMediaAttachedQ35(t *testing.T, iface string) {
	dir := t.TempDir()
	baseDisk := filepath.Join(dir, "base.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", baseDisk, "16M").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out := filepath.Join(dir, "out")
	b, runID := newBuilder(t, `iso_url = "`+baseDisk+`"
iso_checksum = "none"
disk_image = true
communicator = "none"
machine_type = "q35"
skip_nat_mapping = true
disk_additional_size = ["8M"]
disk_interface = "`+iface+`"
floppy_content = { "autounattend.xml" = "<unattend/>" }
output_directory = "`+out+`"
qemuargs = [["-S"]]
`, builder.Options{})
	s := &state{ui: newUI(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	checked := errors.New("checked; the cleanups run as after a failure")
	steps := b.mediaSteps([]builder.Step[state]{
		{Name: "prepare output directory", Run: b.prepareOutput, Cleanup: b.removeFailedOutput},
		{Name: "create temporary directory", Run: b.makeTemp, Cleanup: removeTemp},
		{Name: "find base disk", Run: b.findBase, Cleanup: removeDownload},
		{Name: "create disk", Run: b.createDisk, Cleanup: removeWorkDisk},
		{Name: "create CD", Run: b.createCD},
		{Name: "start qemu", Run: b.startQemu, Cleanup: stopQemu},
		{Name: "check", Run: func(ctx context.Context, s *state) error {
			checkAttached(ctx, t, s)
			return checked
		}},
	})
	var names []string
	for _, st := range steps {
		names = append(names, st.Name)
	}
	if got := strings.Join(names, ", "); !strings.Contains(got, "create disk, create additional disks, create CD, create floppy, start qemu") {
		t.Errorf("steps: %s", got)
	}
	if err := builder.RunSteps(ctx, builder.Options{}, s.ui, s, steps); !errors.Is(err, checked) {
		t.Fatalf("build: %v", err)
	}
	assertNoLeftovers(t, runID, out)
}

// checkAttached asks qemu's monitor which files its block devices hold.
func checkAttached(ctx context.Context, t *testing.T, s *state) {
	t.Helper()
	if s.port != nil {
		t.Errorf("a host port was taken with skip_nat_mapping: %d", s.port.Port)
	}
	q, err := dialQMP(ctx, s.vm.qmp)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.conn.Write([]byte(`{"execute":"query-block"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Return []struct {
			Device   string `json:"device"`
			QDev     string `json:"qdev"`
			Inserted *struct {
				File string `json:"file"`
			} `json:"inserted"`
		} `json:"return"`
	}
	for resp.Return == nil {
		if err := q.dec.Decode(&resp); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{}
	for _, d := range resp.Return {
		if d.Inserted != nil {
			name := d.Device
			if name == "" {
				name = d.QDev
			}
			files[name] = d.Inserted.File
		}
	}
	t.Logf("attached: %v", files)
	if f := files["floppy0"]; f != s.media.floppy || f == "" {
		t.Errorf("floppy0 holds %q, want %s", f, s.media.floppy)
	}
	found := false
	for _, f := range files {
		if len(s.media.extra) == 1 && f == s.media.extra[0] {
			found = true
		}
	}
	if !found {
		t.Errorf("the additional disk %v is not attached: %v", s.media.extra, files)
	}
}
