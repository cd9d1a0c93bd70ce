package qemu

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
)

func TestMergeArgs(t *testing.T) {
	const work = "/out/.disk.run.work"
	defaults := []qemuArg{
		{"-machine", "pc"},
		{"-m", "512M"},
		{"-drive", "file=" + work + ",format=qcow2,if=virtio"},
		{"-drive", "file=/tmp/seed.iso,media=cdrom,readonly=on"},
		{"-netdev", "user,id=user.0,hostfwd=tcp:127.0.0.1:2222-:22"},
		{"-device", "virtio-net,netdev=user.0"},
		{"-serial", "file:/tmp/console.log"},
		{"-qmp", "unix:/tmp/qmp.sock,server=on,wait=off"},
	}
	tests := []struct {
		name string
		user [][]string
		want []qemuArg
	}{
		{"nothing", nil, defaults},
		{"-m replaces -m only", [][]string{{"-m", "2048"}},
			replace(defaults, 1, qemuArg{"-m", "2048"})},
		{"-M is -machine", [][]string{{"-M", "q35"}},
			replace(defaults, 0, qemuArg{"-machine", "q35"})},
		{"-kernel is added", [][]string{{"-kernel", "/k"}, {"-append", "console=ttyS0"}},
			append(clone(defaults), qemuArg{"-kernel", "/k"}, qemuArg{"-append", "console=ttyS0"})},
		{"-qmp is added beside bake's monitor", [][]string{{"-qmp", "tcp:127.0.0.1:4444,server=on,wait=off"}, {"-monitor", "none"}},
			append(clone(defaults), qemuArg{"-qmp", "tcp:127.0.0.1:4444,server=on,wait=off"}, qemuArg{"-monitor", "none"})},
		{"-device adds a device and keeps the defaults", [][]string{{"-device", "virtio-rng-pci"}},
			append(clone(defaults), qemuArg{"-device", "virtio-rng-pci"})},
		{"-drive adds a drive and keeps the defaults", [][]string{{"-drive", "file=/data.img,if=virtio"}},
			append(clone(defaults), qemuArg{"-drive", "file=/data.img,if=virtio"})},
		{"-drive on the build disk replaces the default drive",
			[][]string{{"-drive", "file=" + work + ",if=ide,cache=none"}},
			replace(defaults, 2, qemuArg{"-drive", "file=" + work + ",if=ide,cache=none"})},
		{"-netdev with bake's id replaces the backend",
			[][]string{{"-netdev", "user,id=user.0,hostfwd=tcp::2222-:22,hostfwd=tcp::8080-:80"}},
			replace(defaults, 4, qemuArg{"-netdev", "user,id=user.0,hostfwd=tcp::2222-:22,hostfwd=tcp::8080-:80"})},
		{"-device on bake's backend replaces the NIC",
			[][]string{{"-device", "e1000,netdev=user.0"}},
			replace(defaults, 5, qemuArg{"-device", "e1000,netdev=user.0"})},
		{"a second -serial is added", [][]string{{"-serial", "stdio"}},
			append(clone(defaults), qemuArg{"-serial", "stdio"})},
		{"a flag without value", [][]string{{"-no-reboot"}},
			append(clone(defaults), qemuArg{"-no-reboot"})},
		{"the same single switch twice: the last wins", [][]string{{"-smp", "2"}, {"-smp", "4"}},
			append(clone(defaults), qemuArg{"-smp", "4"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var user []qemuArg
			for _, u := range tt.user {
				user = append(user, qemuArg(u))
			}
			got := mergeArgs(defaults, user, work)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mergeArgs:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func clone(a []qemuArg) []qemuArg { return append([]qemuArg(nil), a...) }

func replace(a []qemuArg, i int, v qemuArg) []qemuArg {
	c := clone(a)
	c[i] = v
	return c
}

func TestInterpolate(t *testing.T) {
	v := argValues{HTTPIP: "10.0.2.2", HTTPPort: 8123, SSHHostPort: 2345, OutputDir: "/out", Name: "disk"}
	got, err := interpolate([][]string{
		{"-append", "ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg"},
		{"-netdev", "user,id=user.0,hostfwd=tcp::{{ .SSHHostPort }}-:22"},
		{"-drive", "file={{ .OutputDir }}/{{ .Name }},if=virtio"},
	}, v, "/out/.disk.run.work")
	if err != nil {
		t.Fatal(err)
	}
	want := []qemuArg{
		{"-append", "ks=http://10.0.2.2:8123/ks.cfg"},
		{"-netdev", "user,id=user.0,hostfwd=tcp::2345-:22"},
		{"-drive", "file=/out/.disk.run.work,if=virtio"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if _, err := interpolate([][]string{{"-m", "{{ .Memory }}"}}, v, ""); err == nil || !strings.Contains(err.Error(), "qemuargs entry 1") {
		t.Errorf("unknown value: %v", err)
	}
}

func TestParseOpts(t *testing.T) {
	got := parseOpts("user,id=user.0,hostfwd=tcp::22-:22,path=/a,,b")
	want := map[string]string{"": "user", "id": "user.0", "hostfwd": "tcp::22-:22", "path": "/a,b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestPortsNeverShared: builds taking ports at the same time, from the
// same lock directory, never get the same one; when the range is used up
// the next one fails with the range in the error; released ports are
// taken again.
func TestPortsNeverShared(t *testing.T) {
	dir := t.TempDir()
	const lo, hi = 41000, 41015
	const takers = 12
	var (
		mu    sync.Mutex
		seen  = map[int]int{}
		held  []*heldPort
		wg    sync.WaitGroup
		fails []error
	)
	for i := range takers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A separate allocator value per build, as in separate builds.
			p, err := portAllocator{Dir: dir}.Take(lo, hi, nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails = append(fails, err)
				return
			}
			seen[p.Port]++
			held = append(held, p)
			_ = i
		}()
	}
	wg.Wait()
	for port, n := range seen {
		if n > 1 {
			t.Errorf("port %d handed out %d times", port, n)
		}
	}
	if len(fails) > 0 {
		t.Fatalf("takes failed: %v", fails)
	}

	// Another process's lock: a child holding flock on a port's file.
	for _, p := range held {
		p.Release()
	}
	held = nil
	small, err := portAllocator{Dir: dir}.Take(lo, lo+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := lo + 1
	if small.Port == other {
		other = lo
	}
	lockFile := filepath.Join(dir, itoa(other)+".lock")
	child := exec.Command("flock", "-x", lockFile, "sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatalf("flock(1) from util-linux: %v", err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	waitLocked(t, lockFile)
	_, err = portAllocator{Dir: dir}.Take(lo, lo+1, nil)
	if err == nil || !strings.Contains(err.Error(), "no free port in 41000..41001") {
		t.Errorf("third take from a two-port range: %v", err)
	}
	small.Release()
	again, err := portAllocator{Dir: dir}.Take(lo, lo+1, nil)
	if err != nil {
		t.Fatalf("take after release: %v", err)
	}
	if again.Port == other {
		t.Errorf("took port %d, which another process holds", other)
	}
	again.Release()
}

// TestPortsSkipBound: a port some other program listens on is skipped,
// and a held port stays bound until Unlisten.
func TestPortsSkipBound(t *testing.T) {
	dir := t.TempDir()
	p1, err := portAllocator{Dir: dir}.Take(41100, 41100, nil)
	if err != nil {
		t.Fatal(err)
	}
	p1.lock.Close() // forget the lock: only the listener guards the port now
	p1.lock = nil
	if _, err := (portAllocator{Dir: dir}).Take(41100, 41100, nil); err == nil {
		t.Error("took a port another program listens on")
	}
	p1.Release()
	p2, err := portAllocator{Dir: dir}.Take(41100, 41100, nil)
	if err != nil {
		t.Fatalf("port not free after release: %v", err)
	}
	p2.Release()
}

func waitLocked(t *testing.T, path string) {
	t.Helper()
	for range 100 {
		if exec.Command("flock", "-n", path, "true").Run() != nil {
			return
		}
		sleepMs(20)
	}
	t.Fatal("the child never locked the file")
}

func TestChooseAccel(t *testing.T) {
	kvmOK := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(kvmOK, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	defer func(d string) { DevKVM = d }(DevKVM)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvKVM {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		opt, env, dev string
		want, note    string
		err           string
	}{
		{opt: "auto", dev: kvmOK, want: "tcg", note: "set BAKE_QEMU_KVM=1"},
		{opt: "", dev: kvmOK, want: "tcg"},
		{opt: "auto", env: "1", dev: kvmOK, want: "kvm"},
		{opt: "auto", env: "1", dev: "/nonexistent/kvm", want: "tcg", note: "/nonexistent/kvm"},
		{opt: "none", want: "tcg"},
		{opt: "tcg", env: "1", dev: kvmOK, want: "tcg"},
		{opt: "kvm", dev: kvmOK, want: "kvm"},
		{opt: "kvm", dev: "/nonexistent/kvm", err: "accelerator kvm: open /nonexistent/kvm"},
		{opt: "hvf", want: "hvf"},
	}
	for _, tt := range tests {
		DevKVM = tt.dev
		got, note, err := chooseAccel(tt.opt, env(tt.env))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%+v: err %v, want %q", tt, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want || !strings.Contains(note, tt.note) {
			t.Errorf("%+v: got %q %q %v", tt, got, note, err)
		}
	}
}

func TestUserData(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 bake-temporary-key\n"
	root := userData("root", key)
	want := "#cloud-config\n# Written by bake: the build's temporary SSH key.\ndisable_root: false\nusers:\n  - default\n  - name: root\n    ssh_authorized_keys:\n      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 bake-temporary-key\n"
	if root != want {
		t.Errorf("root user-data:\n%s\nwant:\n%s", root, want)
	}
	u := userData("debian", key)
	for _, s := range []string{"  - name: debian\n", "    sudo: ALL=(ALL) NOPASSWD:ALL\n", "      - ssh-ed25519 "} {
		if !strings.Contains(u, s) {
			t.Errorf("user-data lacks %q:\n%s", s, u)
		}
	}
	if strings.Contains(u, "disable_root") {
		t.Errorf("disable_root for a non-root user:\n%s", u)
	}
}

// TestSeedISO builds a CD from cd_files (a file, a glob, a directory) and
// cd_content, with the temporary key's user-data, and reads it back.
func TestSeedISO(t *testing.T) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Fatal("xorriso is not installed: run scripts/setup.sh")
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("A"), 0o644)
	os.WriteFile(filepath.Join(src, "b.cfg"), []byte("B"), 0o644)
	os.MkdirAll(filepath.Join(src, "tree", "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "tree", "sub", "c"), []byte("C"), 0o644)

	b, _ := newBuilder(t, `
iso_url = "x.qcow2"
iso_checksum = "none"
ssh_username = "root"
cd_files = ["`+filepath.Join(src, "a.txt")+`", "`+filepath.Join(src, "*.cfg")+`", "`+filepath.Join(src, "tree")+`"]
cd_content = { "meta-data" = "instance-id: mine\n", "dir/x" = "X" }
`, builder.Options{})
	s := &state{ui: newUI(t), tmpDir: t.TempDir()}
	if err := b.prepareKey(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if err := b.createCD(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if msg, err := exec.Command("xorriso", "-osirrox", "on", "-indev", s.seed, "-extract", "/", out).CombinedOutput(); err != nil {
		t.Fatalf("extract: %v: %s", err, msg)
	}
	if msg, err := exec.Command("xorriso", "-indev", s.seed, "-pvd_info").CombinedOutput(); err != nil || !strings.Contains(string(msg), "Volume Id    : cidata") {
		t.Errorf("volume label: %v: %s", err, msg)
	}
	want := map[string]string{
		"a.txt": "A", "b.cfg": "B", "tree/sub/c": "C", "dir/x": "X",
		"meta-data": "instance-id: mine\n", // the template's own is kept
		"user-data": userData("root", string(s.key.AuthorizedKey)),
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(got) != content {
			t.Errorf("%s on the CD: %q, %v; want %q", name, got, err, content)
		}
	}
}

// TestSeedKeepsTemplateUserData: a template's own user-data is not
// replaced; the build says the key is not carried.
func TestSeedKeepsTemplateUserData(t *testing.T) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Fatal("xorriso is not installed: run scripts/setup.sh")
	}
	b, _ := newBuilder(t, `
iso_url = "x.qcow2"
iso_checksum = "none"
ssh_username = "root"
cd_content = { "user-data" = "#cloud-config\n" }
`, builder.Options{})
	ui := newUI(t)
	s := &state{ui: ui, tmpDir: t.TempDir()}
	b.prepareKey(context.Background(), s)
	if err := b.createCD(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ui.text(), "error: the CD has the template's own user-data") {
		t.Errorf("no warning:\n%s", ui.text())
	}
}

// TestBuildFailsEarly: failures before the guest boots leave nothing
// behind, with errors that say what is wrong.
func TestBuildFailsEarly(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img is not installed: run scripts/setup.sh")
	}
	dir := t.TempDir()
	notDisk := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDisk, []byte("this is not a disk\n"), 0o644)
	disk := filepath.Join(dir, "base.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", disk, "64M").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	tests := []struct {
		name, src string
		want      string
	}{
		{"base disk missing", `iso_url = "` + filepath.Join(dir, "missing.qcow2") + `"`, "base disk: stat " + filepath.Join(dir, "missing.qcow2") + ": no such file"},
		{"base not a disk image", `iso_url = "` + notDisk + `"`, "is not a disk image"},
		{"checksum mismatch", `iso_url = "file://` + disk + `"
iso_checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000"`, "sha256 checksum mismatch"},
		{"qemu binary missing", `iso_url = "` + disk + `"
qemu_binary = "/nonexistent/qemu-system-x86_64"`, "start qemu: /nonexistent/qemu-system-x86_64 not found (qemu_binary;"},
		{"disk_size smaller than the base", `iso_url = "` + disk + `"
disk_size = "32M"`, "disk_size 32 MiB is smaller than the base disk's 64 MiB"},
		{"kvm unavailable", `iso_url = "` + disk + `"
accelerator = "kvm"`, "accelerator kvm:"},
	}
	defer func(d string) { DevKVM = d }(DevKVM)
	DevKVM = "/nonexistent/kvm"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outDir := filepath.Join(dir, "out-"+strings.ReplaceAll(tt.name, " ", "-"))
			src := "ssh_username = \"root\"\ndisk_image = true\nboot_wait = \"0s\"\noutput_directory = \"" + outDir + "\"\n" + tt.src
			if !strings.Contains(src, "iso_checksum") {
				src += "\niso_checksum = \"none\""
			}
			b, runID := newBuilder(t, src, builder.Options{})
			_, err := b.Build(context.Background(), newUI(t), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			assertNoLeftovers(t, runID, outDir)
		})
	}
}

// TestOutputDirectory: an existing output directory is refused without
// -force and replaced with it; -on-error=abort leaves a failed build's
// output directory in place and says so.
func TestOutputDirectory(t *testing.T) {
	dir := t.TempDir()
	outDir := filepath.Join(dir, "out")
	os.MkdirAll(outDir, 0o755)
	os.WriteFile(filepath.Join(outDir, "old"), []byte("old"), 0o644)
	src := "ssh_username = \"root\"\ndisk_image = true\niso_checksum = \"none\"\noutput_directory = \"" + outDir + "\"\niso_url = \"" + filepath.Join(dir, "missing") + "\"\n"

	b, _ := newBuilder(t, src, builder.Options{})
	_, err := b.Build(context.Background(), newUI(t), nil)
	if err == nil || !strings.Contains(err.Error(), "output directory "+outDir+" already exists: remove it or use -force") {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(outDir, "old")); err != nil {
		t.Fatalf("the refused build touched the existing directory: %v", err)
	}

	var events []builder.StepEvent
	b, _ = newBuilder(t, src, builder.Options{Force: true, OnError: builder.OnErrorAbort,
		Event: func(e builder.StepEvent) { events = append(events, e) }})
	_, err = b.Build(context.Background(), newUI(t), nil)
	if !errors.Is(err, builder.ErrAborted) {
		t.Fatalf("error %v, want ErrAborted", err)
	}
	if _, err := os.Stat(filepath.Join(outDir, "old")); !os.IsNotExist(err) {
		t.Errorf("-force kept the old content: %v", err)
	}
	if _, err := os.Stat(outDir); err != nil {
		t.Errorf("-on-error=abort removed the output directory: %v", err)
	}
	var left []string
	for _, e := range events {
		if e.Phase == "left" {
			left = append(left, e.Detail)
			if strings.HasPrefix(e.Detail, "temporary directory ") {
				os.RemoveAll(strings.Fields(e.Detail)[2])
			}
		}
	}
	if len(left) != 2 || !strings.Contains(strings.Join(left, "\n"), "rm -rf "+outDir) {
		t.Errorf("left events %q", left)
	}
}

// TestCancelDuringBoot: cancelling the build while it waits for SSH stops
// qemu and removes everything.
func TestCancelDuringBoot(t *testing.T) {
	g := fixture(t)
	outDir := filepath.Join(t.TempDir(), "out")
	b, runID := newBuilder(t, guestSrc(g, g.Disk, outDir, "use_backing_file = true\n"), builder.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	ui := newUI(t)
	b.getenv = func(string) string { return "" }
	go func() {
		for !strings.Contains(ui.text(), "waiting for SSH") {
			sleepMs(100)
		}
		sleepMs(2000)
		cancel()
	}()
	_, err := b.Build(ctx, ui, func(context.Context, provisioners.Communicator, provisioners.BuildInfo) error {
		return errors.New("hook ran")
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	assertNoLeftovers(t, runID, outDir)
}

// TestFetchHTTP: an http(s) base disk is downloaded, checked against a
// checksum file (file:URL) as it arrives and kept at iso_target_path; a
// mismatch leaves no file.
func TestFetchHTTP(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img is not installed: run scripts/setup.sh")
	}
	dir := t.TempDir()
	disk := filepath.Join(dir, "base.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", disk, "64M").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sum := fileSHA256(t, disk)
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sum+"  base.qcow2\n"+strings.Repeat("0", 64)+"  bad.qcow2\n"), 0o644)
	os.Link(disk, filepath.Join(dir, "bad.qcow2"))
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()

	for _, tt := range []struct{ name, file, want string }{
		{"checksum file", "base.qcow2", ""},
		{"mismatch", "bad.qcow2", "sha256 checksum mismatch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "cached.qcow2")
			b, _ := newBuilder(t, `
iso_url = "`+srv.URL+"/"+tt.file+`"
iso_checksum = "file:`+srv.URL+`/SHA256SUMS"
iso_target_path = "`+target+`"
disk_image = true
ssh_username = "root"
`, builder.Options{})
			s := &state{ui: newUI(t), outDir: t.TempDir()}
			err := b.findBase(context.Background(), s)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				if m, _ := filepath.Glob(filepath.Dir(target) + "/*"); len(m) > 0 {
					t.Errorf("left %v", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.base != target || s.baseSHA256 != sum || s.baseInfo.Format != "qcow2" || s.downloaded != "" {
				t.Errorf("state base %s sha %s info %+v downloaded %q", s.base, s.baseSHA256, s.baseInfo, s.downloaded)
			}
		})
	}
}

// A long $TMPDIR (a test's t.TempDir(), a CI workspace) must not push the
// QMP socket's path past the 108 bytes a unix socket address holds.
func TestTempRootFitsSocket(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 90))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", long)
	b := &Builder{runID: "0123456789abcdef0123456789abcdef0123"}
	s := &state{}
	if err := b.makeTemp(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(s.tmpDir)
	sock := filepath.Join(s.tmpDir, "qmp.sock")
	if len(sock) >= 108 {
		t.Fatalf("socket path is %d bytes: %s", len(sock), sock)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen on %s: %v", sock, err)
	}
	l.Close()
	t.Setenv("TMPDIR", "/var/tmp")
	if tempRoot() != "/var/tmp" {
		t.Errorf("a short TMPDIR is not used: %s", tempRoot())
	}
}

// -force replaces an output directory, but never the working directory,
// one that holds it, home or / (Packer's output_directory = "." would take
// the template with it).
func TestForceRefusesUnsafeOutputDirectory(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{wd, filepath.Dir(wd), "/"} {
		if unsafeToRemove(dir) == "" {
			t.Errorf("%s would be removed by -force", dir)
		}
	}
	if why := unsafeToRemove(filepath.Join(wd, "output-x")); why != "" {
		t.Errorf("a directory of its own is refused: %s", why)
	}
	if why := unsafeToRemove(wd + "-sibling"); why != "" {
		t.Errorf("a sibling whose name starts like the working directory is refused: %s", why)
	}
}
