package main

// End-to-end tests of the build cache through `bake build`, with the
// docker builder against the real engine: a cold build, an unchanged one,
// one whose last step changed, a damaged entry, -no-cache, and bake cache
// ls / prune.

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// cacheTemplateDir writes the cache tests' template: three shell steps, a
// file upload and a last script, committed with changes.
func cacheTemplateDir(t *testing.T, last string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"up/a.txt":   "uploaded\n",
		"up/sub/b":   strings.Repeat("b", 5000),
		"last.sh":    last,
		"first.sh":   "#!/bin/sh\nmkdir -p /srv && echo first > /srv/first\n",
		"t.pkr.hcl":  "",
		".gitignore": "",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tpl := fmt.Sprintf(`
source "docker" "c" {
  image   = %q
  pull    = false
  commit  = true
  changes = ["ENV GREETING=hello", "WORKDIR /srv", "CMD [\"cat\", \"/srv/last\"]"]
}
build {
  sources = ["source.docker.c"]
  provisioner "shell" {
    script = "%s/first.sh"
  }
  provisioner "shell" {
    environment_vars = ["TOKEN=abc"]
    inline           = ["echo \"step two $TOKEN\" > /srv/two", "chmod 600 /srv/two"]
  }
  provisioner "file" {
    source      = "%s/up/"
    destination = "/srv/up"
  }
  provisioner "shell" {
    inline = ["ln -s /srv/two /srv/link"]
  }
  provisioner "shell" {
    script = "%s/last.sh"
  }
}
`, testenv.BaseImage(), dir, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cacheTest sets up a docker cache test: the engine, an empty cache
// directory of its own (the cache on, its images removed at the end) and
// the template of cacheTemplateDir, whose last step writes last.
func cacheTest(t *testing.T, last string) (cli *client.Client, cacheDir, dir string) {
	t.Helper()
	cli = testenv.Docker(t, testenv.BaseImage())
	cacheDir = t.TempDir()
	t.Setenv("BAKE_CACHE_DIR", cacheDir)
	t.Setenv("BAKE_NO_CACHE", "")
	t.Cleanup(func() { removeCacheImages(t, cli, cacheDir) })
	return cli, cacheDir, cacheTemplateDir(t, "#!/bin/sh\necho "+last+" > /srv/last\n")
}

func stepStatuses(t *testing.T, r dockerRun) []artifacts.StepEntry {
	t.Helper()
	builds := r.statement(t).Predicate.Builds
	if len(builds) != 1 {
		t.Fatalf("%d builds in the manifest", len(builds))
	}
	return builds[0].Steps
}

func statusList(steps []artifacts.StepEntry) string {
	var s []string
	for _, st := range steps {
		s = append(s, st.Status)
	}
	return strings.Join(s, ",")
}

func builtImage(t *testing.T, r dockerRun) string {
	t.Helper()
	return r.artifact(t, "docker.c", "docker").ID
}

// cachedImageFacts is what a user compares between two images: the config
// (without the run's own labels) and every file's type, mode, owner,
// link target and content digest.
type cachedImageFacts struct {
	Config any
	Files  map[string]string
}

func cachedImageFactsOf(t *testing.T, cli *client.Client, id string) cachedImageFacts {
	t.Helper()
	ctx := context.Background()
	insp, err := cli.ImageInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	cfg := insp.Config
	delete(cfg.Labels, docker.LabelRunID)
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: id, Labels: map[string]string{labelTest: t.Name()}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	rc, err := cli.ContainerExport(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case ".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "dev/", "proc/", "sys/":
			continue // made by the engine for every container
		}
		if strings.HasPrefix(h.Name, "dev/") || strings.HasPrefix(h.Name, "proc/") || strings.HasPrefix(h.Name, "sys/") {
			continue
		}
		sum := sha256.New()
		io.Copy(sum, tr)
		files[h.Name] = fmt.Sprintf("%c %o %d:%d %s %s", h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, hex.EncodeToString(sum.Sum(nil))[:16])
	}
	return cachedImageFacts{Config: cfg, Files: files}
}

func TestCacheE2EDocker(t *testing.T) {
	cli, cacheDir, dir := cacheTest(t, "last-v1")

	// Cold: every step runs; the manifest says so.
	cold := bakeDocker(t, cli, dir)
	cold.mustSucceed(t)
	if got := statusList(stepStatuses(t, cold)); got != "run,run,run,run,run" {
		t.Fatalf("cold build steps: %s", got)
	}
	coldImage := builtImage(t, cold)
	coldSBOM := cold.statement(t).Predicate.Builds[0].SBOM

	// Unchanged: nothing runs, the image is the cold one, and the
	// manifest names the run that built each reused step.
	same := bakeDocker(t, cli, dir)
	same.mustSucceed(t)
	steps := stepStatuses(t, same)
	if got := statusList(steps); got != "reused,reused,reused,reused,reused" {
		t.Fatalf("unchanged build steps: %s", got)
	}
	for _, st := range steps {
		if st.RunID != cold.runID || !cache.Key(st.Key).Valid() {
			t.Errorf("reused step %s: key %q, run %q; want a key and run %s", st.Step, st.Key, st.RunID, cold.runID)
		}
	}
	// The reused build's SBOM is the one of the build that made the image.
	if cs, ss := coldSBOM, same.statement(t).Predicate.Builds[0].SBOM; cs == nil || ss == nil || cs.Packages != ss.Packages || cs.Packages == 0 {
		t.Errorf("SBOM of the cold build %+v, of the reused one %+v: want the same packages", cs, ss)
	}
	if img := builtImage(t, same); img != coldImage {
		t.Errorf("unchanged build made image %s, want the cold build's %s", img, coldImage)
	}
	if n := provisionersRun(same); n != 0 {
		t.Errorf("unchanged build ran %d provisioners", n)
	}

	// The last step changed: only it runs, from the cached state before it.
	if err := os.WriteFile(filepath.Join(dir, "last.sh"), []byte("#!/bin/sh\necho last-v2 > /srv/last\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := bakeDocker(t, cli, dir)
	changed.mustSucceed(t)
	if got := statusList(stepStatuses(t, changed)); got != "reused,reused,reused,reused,run" {
		t.Fatalf("last-step-changed build steps: %s", got)
	}
	if n := provisionersRun(changed); n != 1 {
		t.Errorf("last-step-changed build ran %d provisioners, want 1", n)
	}
	changedImage := builtImage(t, changed)
	if out := runImageCmd(t, cli, changedImage); strings.TrimSpace(out) != "last-v2" {
		t.Errorf("the changed image's command printed %q, want last-v2", out)
	}

	// The same template cold (-no-cache) makes an image with the same
	// config and files; -no-cache records no steps and runs them all.
	nocache := bakeDocker(t, cli, dir, "-no-cache")
	nocache.mustSucceed(t)
	if steps := stepStatuses(t, nocache); steps != nil {
		t.Errorf("-no-cache build recorded cache steps: %v", steps)
	}
	if n := provisionersRun(nocache); n != 5 {
		t.Errorf("-no-cache build ran %d provisioners, want 5", n)
	}
	want, got := cachedImageFactsOf(t, cli, builtImage(t, nocache)), cachedImageFactsOf(t, cli, changedImage)
	if !reflect.DeepEqual(want.Config, got.Config) {
		t.Errorf("resumed image config differs from a cold build's:\ncold    %+v\nresumed %+v", want.Config, got.Config)
	}
	if !reflect.DeepEqual(want.Files, got.Files) {
		for name, w := range want.Files {
			if got.Files[name] != w {
				t.Errorf("%s: cold %q, resumed %q", name, w, got.Files[name])
			}
		}
		for name, g := range got.Files {
			if _, ok := want.Files[name]; !ok {
				t.Errorf("%s: only in the resumed image (%q)", name, g)
			}
		}
	}
	if len(want.Files) < 10 || want.Files["srv/link"] == "" || want.Files["srv/up/sub/b"] == "" {
		t.Errorf("file listing looks wrong: %d files", len(want.Files))
	}

	// A damaged entry: the final image's tag moved to another image, and
	// a truncated index file. Neither is used; the build reruns.
	store, err := cache.Open(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := store.List()
	if err != nil {
		t.Fatal(err)
	}
	var final *cache.Entry
	for _, e := range entries {
		if e.Kind == cache.KindDockerImage && e.Ref == changedImage {
			final = e
		}
	}
	if final == nil {
		t.Fatalf("no final-image entry for %s in %d entries", changedImage, len(entries))
	}
	tag := docker.CacheRepository + ":" + final.Key.Hex()
	if err := cli.ImageTag(context.Background(), testenv.BaseImage(), tag); err != nil {
		t.Fatal(err)
	}
	damaged := bakeDocker(t, cli, dir)
	damaged.mustSucceed(t)
	if got := statusList(stepStatuses(t, damaged)); got != "reused,reused,reused,reused,run" {
		t.Errorf("after a re-tagged final image, steps: %s (want the last step rerun)", got)
	}
	if !strings.Contains(strings.Join(damagedMessages(damaged), "\n"), "damaged") {
		t.Errorf("no message says the entry is damaged")
	}
	idx := filepath.Join(cacheDir, "index", final.Key.Hex()+".json")
	b, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idx, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	truncated := bakeDocker(t, cli, dir)
	truncated.mustSucceed(t)
	if got := statusList(stepStatuses(t, truncated)); got != "reused,reused,reused,reused,run" {
		t.Errorf("after a truncated index file, steps: %s (want the last step rerun)", got)
	}

	// bake cache ls lists the entries; prune -keep-bytes 0 removes them
	// and their images.
	code, out, stderr := bakeRun(t, os.Environ(), "cache", "ls")
	if code != exitOK || !strings.Contains(out, cache.KindDockerStep) || !strings.Contains(out, cache.KindDockerImage) || !strings.Contains(out, "docker.c") {
		t.Fatalf("bake cache ls: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = bakeRun(t, os.Environ(), "cache", "prune", "-older-than", "1h")
	if code != exitOK || strings.Contains(out, "removed") {
		t.Fatalf("prune -older-than 1h removed fresh entries: exit %d\n%s\n%s", code, out, stderr)
	}
	before, err := store.List()
	if err != nil || len(before) == 0 {
		t.Fatalf("entries before prune: %d, %v", len(before), err)
	}
	code, out, stderr = bakeRun(t, os.Environ(), "cache", "prune", "-keep-bytes", "0")
	if code != exitOK || !strings.Contains(out, "removed") {
		t.Fatalf("bake cache prune: exit %d\n%s\n%s", code, out, stderr)
	}
	if left, _ := store.List(); len(left) != 0 {
		t.Errorf("%d entries left after prune", len(left))
	}
	for _, e := range before {
		tag := docker.CacheRepository + ":" + e.Key.Hex()
		if _, err := cli.ImageInspect(context.Background(), tag); err == nil {
			t.Errorf("%s still exists after prune", tag)
		}
	}
}

// TestCacheE2EDockerSquash checks squash = true: a build whose last step
// changed runs every step from the base, and its image is the base plus
// one layer, although the cache keeps the state before that step (from
// an unsquashed build of the template) and the unsquashed image of the
// same steps; an unchanged squashed build is reused whole.
func TestCacheE2EDockerSquash(t *testing.T) {
	cli, _, dir := cacheTest(t, "last-v1")
	tpl := filepath.Join(dir, "t.pkr.hcl")
	setLast := func(v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "last.sh"), []byte("#!/bin/sh\necho "+v+" > /srv/last\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	layers := func(id string) int {
		t.Helper()
		insp, err := cli.ImageInspect(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return len(insp.RootFS.Layers)
	}
	base := layers(testenv.BaseImage())
	// build runs the template and checks which steps ran and how many
	// layers its image has over the base.
	build := func(what, steps string, over int) string {
		t.Helper()
		r := bakeDocker(t, cli, dir)
		r.mustSucceed(t)
		if got := statusList(stepStatuses(t, r)); got != steps {
			t.Fatalf("%s: steps %s, want %s", what, got, steps)
		}
		img := builtImage(t, r)
		if n := layers(img); n != base+over {
			t.Fatalf("%s: the image has %d layers over the base's %d, want %d", what, n-base, base, over)
		}
		return img
	}

	// Unsquashed: cold, then resumed before the last step, one layer more
	// (else the test no longer shows what squash is for).
	build("unsquashed cold build", "run,run,run,run,run", 1)
	setLast("last-v2")
	unsquashed := build("unsquashed last-step-changed build", "reused,reused,reused,reused,run", 2)

	// squash = true, same steps: neither the kept step nor the unsquashed
	// image is used; every step runs and the image is one layer over the base.
	b, err := os.ReadFile(tpl)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tpl, []byte(strings.Replace(string(b), "commit  = true", "commit  = true\n  squash  = true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	img := build("squashed build", "run,run,run,run,run", 1)
	if img == unsquashed {
		t.Fatal("the squashed build reused the unsquashed image")
	}
	if out := runImageCmd(t, cli, img); strings.TrimSpace(out) != "last-v2" {
		t.Errorf("the squashed image's command printed %q, want last-v2", out)
	}

	// Unchanged: reused whole.
	if same := build("unchanged squashed build", "reused,reused,reused,reused,reused", 1); same != img {
		t.Errorf("unchanged squashed build made image %s, want %s", same, img)
	}

	// The last step changed again: every step runs, one layer over the base.
	setLast("last-v3")
	build("squashed last-step-changed build", "run,run,run,run,run", 1)
}

func provisionersRun(r dockerRun) int {
	n := 0
	for _, e := range r.events {
		if e.Type == engine.EventStepStarted && strings.HasPrefix(e.Step, "provisioner") {
			n++
		}
	}
	return n
}

func damagedMessages(r dockerRun) []string {
	var out []string
	for _, e := range r.events {
		if e.Message != "" {
			out = append(out, e.Message)
		}
	}
	return out
}

// removeCacheImages removes the cache tags of the entries in dir.
func removeCacheImages(t *testing.T, cli *client.Client, dir string) {
	store, err := cache.Open(dir)
	if err != nil {
		return
	}
	entries, _ := store.List()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, e := range entries {
		cli.ImageRemove(ctx, docker.CacheRepository+":"+e.Key.Hex(), image.RemoveOptions{Force: true})
	}
}

// TestCacheE2EConcurrent runs two bake processes on the same template and
// cache at once: both succeed, every entry left is whole and names a live
// image, and a third build reuses the result without running a step.
func TestCacheE2EConcurrent(t *testing.T) {
	cli, cacheDir, dir := cacheTest(t, "concurrent")
	bin := bakebin.Path(t)
	type result struct {
		code   int
		stdout string
		err    error
	}
	results := make(chan result, 2)
	for i := range 2 {
		go func() {
			cmd := exec.Command(bin, "build", "-json", "-manifest", filepath.Join(t.TempDir(), fmt.Sprintf("m%d.json", i)), dir)
			cmd.Env = os.Environ()
			var out strings.Builder
			cmd.Stdout = &out
			err := cmd.Run()
			code := 0
			if err != nil {
				code = -1
				if ee, ok := err.(*exec.ExitError); ok {
					code, err = ee.ExitCode(), nil
				}
			}
			results <- result{code, out.String(), err}
		}()
	}
	for range 2 {
		r := <-results
		if r.err != nil || r.code != exitOK {
			t.Fatalf("concurrent build: exit %d, %v\n%s", r.code, r.err, r.stdout)
		}
		afterRun(t, cli, runIDOf(t, parseEvents(t, r.stdout)))
	}
	store, err := cache.Open(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := store.List()
	if err != nil || len(entries) < 2 {
		t.Fatalf("%d entries, %v; want the step before the last and the final image", len(entries), err)
	}
	for _, e := range entries {
		insp, err := cli.ImageInspect(context.Background(), docker.CacheRepository+":"+e.Key.Hex())
		if err != nil || insp.ID != e.Digest {
			t.Errorf("entry %s (%s) names image %s; the tag gives %s, %v", e.Key.Short(), e.Kind, e.Digest, insp.ID, err)
		}
	}
	third := bakeDocker(t, cli, dir)
	third.mustSucceed(t)
	if n := provisionersRun(third); n != 0 {
		t.Errorf("the build after two concurrent ones ran %d provisioners, want 0", n)
	}
}
