package qemu

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
)

// TestCacheBaseKey changes one option or one byte of a file at a time and
// checks whether the key of the machine before the provisioners changes:
// it must for what shapes the guest, and must not for what only names the
// output or serves the host.
func TestCacheBaseKey(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	seed := filepath.Join(dir, "seed")
	os.MkdirAll(seed, 0o755)
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(kernel, "kernel v1")
	write(filepath.Join(seed, "user-data"), "#cloud-config\n")
	defaults := map[string]string{
		"iso_url": `"/base.qcow2"`, "iso_checksum": `"none"`, "disk_image": "true", "memory": "768",
		"ssh_username": `"root"`, "output_directory": `"out"`, "vm_name": `"disk.qcow2"`,
		"cd_files": fmt.Sprintf("[%q]", seed+"/"), "qemuargs": fmt.Sprintf("[[\"-kernel\", %q]]", kernel),
	}
	// src is the defaults with extra's "name = value" lines over them.
	src := func(extra string) string {
		attrs := maps.Clone(defaults)
		for _, l := range strings.Split(extra, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				attrs[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		var b strings.Builder
		for k, v := range attrs {
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
		return b.String()
	}
	key := func(extra string, sha string) cache.Key {
		t.Helper()
		b, _ := newBuilder(t, src(extra), builder.Options{})
		k, err := b.baseKey(&state{baseSHA256: sha, base: "/base.qcow2"})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	cold := key("", "aa")
	for _, c := range []struct {
		name, extra, sha string
		edit             func()
		same             bool
	}{
		{name: "nothing", same: true},
		{name: "output_directory and vm_name", extra: `
output_directory = "elsewhere"
vm_name          = "other.qcow2"`, same: true},
		{name: "accelerator, ports, boot_wait, timeouts", extra: `
accelerator      = "tcg"
host_port_min    = 3000
host_port_max    = 3100
boot_wait        = "3s"
shutdown_timeout = "1m"
ssh_timeout      = "9m"
headless         = true`, same: true},
		{name: "base disk sha256", sha: "ab"},
		{name: "memory", extra: `memory = 1024`},
		{name: "cpus", extra: `cpus = 2`},
		{name: "format", extra: `format = "raw"`},
		{name: "disk_size", extra: `disk_size = "2G"`},
		{name: "ssh_username", extra: `ssh_username = "admin"`},
		{name: "shutdown_command", extra: `shutdown_command = "halt -p"`},
		{name: "kernel file, one byte", edit: func() { write(kernel, "kernel v2") }},
		{name: "cd_files file, one byte", edit: func() { write(filepath.Join(seed, "user-data"), "#cloud-config!") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.edit != nil {
				c.edit()
				defer func() {
					write(kernel, "kernel v1")
					write(filepath.Join(seed, "user-data"), "#cloud-config\n")
				}()
			}
			sha := c.sha
			if sha == "" {
				sha = "aa"
			}
			got := key(c.extra, sha)
			if (got == cold) != c.same {
				t.Errorf("key %s, cold %s: want same=%v", got.Short(), cold.Short(), c.same)
			}
		})
	}
}

// qemuWrapper writes a qemu_binary that logs each start to log and runs
// qemu-system-x86_64.
func qemuWrapper(t *testing.T, dir string) (bin, log string) {
	t.Helper()
	real, err := exec.LookPath(DefaultQemuBinary)
	if err != nil {
		t.Fatal(err)
	}
	bin, log = filepath.Join(dir, "qemu-logged"), filepath.Join(dir, "qemu-starts.log")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\nexec %q \"$@\"\n", log, real)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}

// qemuStarts counts the wrapper's logged starts of a guest (not the
// probes that only ask qemu for its version or devices).
func qemuStarts(t *testing.T, log string) int {
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "-drive") {
			n++
		}
	}
	return n
}

// cacheRun is one bake build of testdata/qemu/cache.pkr.hcl.
type cacheRun struct {
	out, text string
	steps     []artifacts.StepEntry
	runID     string
	digest    string // the manifest's digest of the disk
	took      time.Duration
}

func (r cacheRun) statuses() string {
	var s []string
	for _, st := range r.steps {
		s = append(s, st.Status)
	}
	return strings.Join(s, ",")
}

// TestCacheE2E builds testdata/qemu/cache.pkr.hcl with bake build on the
// real guest: cold (the disk is stored), unchanged (the disk and its
// checksum are the cold build's, the manifest says every step was reused
// with its key and the cold run's id, and no qemu starts), the last
// provisioner changed (the build runs), and an entry whose disk lost a
// byte's worth of integrity (it is not used; the build runs and stores
// a good one).
func TestCacheE2E(t *testing.T) {
	g := fixture(t)
	bin := bakebin.Path(t)
	template, err := filepath.Abs("../../testdata/qemu/cache.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := copyBase(t, g.Disk, dir)
	qemu, log := qemuWrapper(t, dir)
	cacheDir := filepath.Join(dir, "cache")
	n := 0
	// buildIn builds into the output directory out ("" for a new one).
	buildIn := func(out, last string, args ...string) cacheRun {
		t.Helper()
		n++
		if out == "" {
			out = filepath.Join(dir, fmt.Sprintf("out%d", n))
		}
		manifest := filepath.Join(dir, fmt.Sprintf("m%d.json", n))
		args = append([]string{"build", "-color=false", "-manifest", manifest,
			"-var", "fixture=" + filepath.Dir(g.Disk), "-var", "base=" + base, "-var", "output=" + out,
			"-var", "qemu=" + qemu, "-var", "last=" + last}, args...)
		cmd := exec.Command(bin, append(args, template)...)
		cmd.Env = append(os.Environ(), "BAKE_CACHE_DIR="+cacheDir, "BAKE_NO_CACHE=")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		t0 := time.Now()
		err := cmd.Run()
		r := cacheRun{out: filepath.Join(out, "cached.qcow2"), text: buf.String(), took: time.Since(t0)}
		t.Logf("bake build %d took %s:\n%s", n, r.took.Round(10*time.Millisecond), r.text)
		if err != nil {
			t.Fatalf("bake build %d: %v", n, err)
		}
		stmt := manifesttest.Statement(t, manifest)
		r.runID = stmt.Predicate.Fingerprint
		builds := stmt.Predicate.Builds
		if len(builds) != 1 {
			t.Fatalf("manifest builds %+v", builds)
		}
		r.steps = builds[0].Steps
		for _, a := range builds[0].Artifacts {
			if a.ExternalIdentifier == r.out {
				r.digest = a.Digest
			}
		}
		want := "sha256:" + fileSHA256(t, r.out)
		if r.digest != want {
			t.Errorf("build %d: the manifest names the disk %q, sha256sum says %s", n, r.digest, want)
		}
		sum, err := os.ReadFile(filepath.Join(out, "sha256.checksum"))
		if err != nil || string(sum) != strings.TrimPrefix(want, "sha256:")+"\tcached.qcow2\n" {
			t.Errorf("build %d: sha256.checksum reads %q (%v), want the disk's %s", n, sum, err, want)
		}
		return r
	}
	build := func(last string, args ...string) cacheRun {
		t.Helper()
		return buildIn("", last, args...)
	}
	store, err := cache.Open(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	diskEntries := func() []*cache.Entry {
		list, err := store.List()
		if err != nil {
			t.Fatal(err)
		}
		var out []*cache.Entry
		for _, e := range list {
			if e.Kind == cache.KindQemuDisk {
				out = append(out, e)
			}
		}
		return out
	}

	// Cold: both steps run and the disk is stored with its digest.
	cold := build("v1")
	if got := cold.statuses(); got != "run,run" {
		t.Fatalf("cold build steps %q, want run,run", got)
	}
	entries := diskEntries()
	if len(entries) != 1 || entries[0].Digest != cold.digest || entries[0].RunID != cold.runID {
		t.Fatalf("after the cold build the cache holds %+v; want one qemu disk of digest %s by run %s", entries, cold.digest, cold.runID)
	}
	starts := qemuStarts(t, log)
	if starts != 1 {
		t.Fatalf("the cold build started qemu %d times, want 1", starts)
	}

	// Unchanged: the same disk, no qemu, every step reused with its key
	// and the cold run's id; with -cache-to, the reused disk is shared.
	repo := registryAddr() + "/bake-test/qemu-cache-" + strconv.Itoa(os.Getpid())
	same := build("v1", "-cache-to", repo)
	if got := same.statuses(); got != "reused,reused" {
		t.Fatalf("unchanged build steps %q, want reused,reused", got)
	}
	for i, st := range same.steps {
		if st.RunID != cold.runID || !cache.Key(st.Key).Valid() || st.Key != cold.steps[i].Key {
			t.Errorf("reused step %s: key %q run %q; want the cold build's key %q and run %s", st.Step, st.Key, st.RunID, cold.steps[i].Key, cold.runID)
		}
	}
	if same.digest != cold.digest {
		t.Errorf("unchanged build's disk %s, want the cold one's %s", same.digest, cold.digest)
	}
	if got := qemuStarts(t, log); got != starts {
		t.Errorf("the unchanged build started qemu %d times", got-starts)
	}
	t.Logf("unchanged rebuild: %s (cold %s)", same.took.Round(10*time.Millisecond), cold.took.Round(10*time.Millisecond))
	if !strings.Contains(same.text, "pushed the disk") {
		t.Errorf("the unchanged build with -cache-to did not push the disk it reused to %s", repo)
	}

	// Unchanged, with -force into the output directory the last build
	// wrote (a developer's loop): the disk there is hashed, found to be
	// the entry's, and kept, the same file; the directory's other files
	// go, as -force replaces the directory; no qemu starts.
	outDir := filepath.Dir(same.out)
	before, err := os.Stat(same.out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "stale.txt"), []byte("from before"), 0o644); err != nil {
		t.Fatal(err)
	}
	inPlace := buildIn(outDir, "v1", "-force")
	if got := inPlace.statuses(); got != "reused,reused" {
		t.Fatalf("unchanged build in place: steps %q, want reused,reused", got)
	}
	if inPlace.digest != cold.digest {
		t.Errorf("unchanged build in place: disk %s, want the cold one's %s", inPlace.digest, cold.digest)
	}
	if after, err := os.Stat(inPlace.out); err != nil || !os.SameFile(before, after) {
		t.Errorf("the unchanged disk in place was not kept as the same file (%v)", err)
	}
	if !strings.Contains(inPlace.text, "in place (its sha256 is the entry's)") {
		t.Errorf("the build in place did not say it kept the disk")
	}
	assertOnly := func(what string, names ...string) {
		t.Helper()
		ents, _ := os.ReadDir(outDir)
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if strings.Join(got, ",") != strings.Join(names, ",") {
			t.Errorf("%s: the output directory holds %q, want %q", what, got, names)
		}
	}
	assertOnly("unchanged build in place", "cached.qcow2", "sha256.checksum")
	if got := qemuStarts(t, log); got != starts {
		t.Errorf("the unchanged build in place started qemu %d times", got-starts)
	}
	t.Logf("unchanged rebuild in place (-force): %s", inPlace.took.Round(10*time.Millisecond))

	// One byte of the disk in place changed: its hash tells, and the
	// cached disk replaces it; still no qemu.
	flipByte(t, inPlace.out)
	fixed := buildIn(outDir, "v1", "-force")
	if got := fixed.statuses(); got != "reused,reused" {
		t.Fatalf("build over a changed disk in place: steps %q, want reused,reused", got)
	}
	if fixed.digest != cold.digest {
		t.Errorf("build over a changed disk in place: disk %s, want the cold one's %s", fixed.digest, cold.digest)
	}
	if !strings.Contains(fixed.text, "is not the cache entry's") || !strings.Contains(fixed.text, "copied to "+fixed.out) {
		t.Errorf("the build did not say the disk in place differed and copy the cached one")
	}
	assertOnly("build over a changed disk in place", "cached.qcow2", "sha256.checksum")
	if got := qemuStarts(t, log); got != starts {
		t.Errorf("the build over a changed disk in place started qemu %d times", got-starts)
	}

	// The last provisioner changed, with -force into the same directory:
	// the disk there is no entry of the new key, so it goes and the build
	// runs; it is stored beside the first.
	changed := buildIn(outDir, "v2", "-force", "-cache-to", repo)
	if got := changed.statuses(); got != "run,run" {
		t.Fatalf("changed build steps %q, want run,run", got)
	}
	assertOnly("changed build in place", "cached.qcow2", "sha256.checksum")
	if changed.steps[1].Key == cold.steps[1].Key || changed.steps[0].Key != cold.steps[0].Key {
		t.Errorf("changed build keys %+v, cold %+v: want the first step's the same and the last's different", changed.steps, cold.steps)
	}
	if got := qemuStarts(t, log); got != starts+1 {
		t.Errorf("the changed build started qemu %d times, want 1", got-starts)
	}
	if len(diskEntries()) != 2 {
		t.Errorf("the cache holds %d disks, want 2", len(diskEntries()))
	}
	if !strings.Contains(changed.text, "pushed the disk") {
		t.Errorf("the build with -cache-to did not push the disk it made to %s", repo)
	}

	// One byte of the cold entry's disk changed: the entry is not used,
	// the build runs, and a good entry replaces it.
	k := cache.Key(cold.steps[len(cold.steps)-1].Key)
	flipByte(t, filepath.Join(store.BlobDir(finalKey(k)), cacheBlob))
	starts = qemuStarts(t, log)
	again := build("v1")
	if got := again.statuses(); got != "run,run" {
		t.Fatalf("build over a damaged entry: steps %q, want run,run", got)
	}
	if !strings.Contains(again.text, "is damaged") {
		t.Errorf("the build did not say the entry was damaged")
	}
	if got := qemuStarts(t, log); got != starts+1 {
		t.Errorf("the build over a damaged entry started qemu %d times, want 1", got-starts)
	}
	e, err := store.Get(finalKey(k))
	if err != nil || e == nil || e.RunID != again.runID || store.CheckFile(e.Key, cacheBlob, e.Digest) != nil || e.Digest != again.digest {
		t.Errorf("after the rebuild the entry is %+v (%v); want run %s's intact disk", e, err, again.runID)
	}

	// Another machine, an empty cache directory, -cache-from: the disk
	// the unchanged build shared (the cold one's), with no qemu started.
	cacheDir = filepath.Join(dir, "cache2")
	starts = qemuStarts(t, log)
	shared := build("v1", "-cache-from", repo)
	if got := shared.statuses(); got != "reused,reused" {
		t.Fatalf("build from the shared cache: steps %q, want reused,reused", got)
	}
	for _, st := range shared.steps {
		if st.RunID != cold.runID {
			t.Errorf("step %s reused from run %q, want %s", st.Step, st.RunID, cold.runID)
		}
	}
	if shared.digest != cold.digest {
		t.Errorf("the shared disk is %s, the one pushed %s", shared.digest, cold.digest)
	}
	if got := qemuStarts(t, log); got != starts {
		t.Errorf("the build from the shared cache started qemu %d times", got-starts)
	}
	t.Logf("from the shared cache: %s", shared.took.Round(10*time.Millisecond))
}

// flipByte changes the byte in the middle of the file at path, in place.
func flipByte(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// registryAddr is the loopback registry scripts/setup.sh starts.
func registryAddr() string {
	if s := os.Getenv("BAKE_TEST_REGISTRY"); s != "" {
		return s
	}
	return "127.0.0.1:5000"
}
