package main

// End-to-end test of the shared build cache: bake build -cache-to on one
// "machine" (the default engine, one cache directory) and -cache-from on
// another (a second dockerd with its own image store, another cache
// directory), through the real loopback registry.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/dockerd"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// TestCacheE2EShared builds on machine A with -cache-to, then on machine B
// (its own engine and cache directory) with -cache-from: B reuses every
// step of A's build without running one, gets the same image (same id,
// same files and config), and the manifest names A's run. With the last
// step changed, B starts from the state A shared and runs only that step.
// A registry that refuses is a warning: the build succeeds.
func TestCacheE2EShared(t *testing.T) {
	cliA := testenv.Docker(t, testenv.BaseImage())
	host, certs := dockerd.Start(t)
	dockerd.CopyImage(t, testenv.BaseImage(), host, certs)
	cliB, err := dockerd.Client(host, certs)
	if err != nil {
		t.Fatal(err)
	}
	defer cliB.Close()

	repo := testenv.RegistryAddr() + "/bake-e2e/cache-" + randSuffix()
	t.Cleanup(func() { deleteTags(t, repo) })
	cacheA, cacheB := t.TempDir(), t.TempDir()
	t.Cleanup(func() { removeCacheImages(t, cliA, cacheA) })
	envA := bakebin.Env(t, "BAKE_CACHE_DIR="+cacheA, "BAKE_NO_CACHE=")
	envB := bakebin.Env(t, append(dockerd.Env(host, certs), "BAKE_CACHE_DIR="+cacheB, "BAKE_NO_CACHE=")...)
	dir := cacheTemplateDir(t, "#!/bin/sh\necho last-v1 > /srv/last\n")

	// Machine A builds and shares.
	a := bakeProcess(t, cliA, envA, dir, "-cache-to", repo)
	a.mustSucceed(t)
	aSteps := stepStatuses(t, a) // read now: the next run writes the same manifest file
	if got := statusList(aSteps); got != "run,run,run,run,run" {
		t.Fatalf("machine A's build steps: %s", got)
	}
	if !strings.Contains(strings.Join(messages(a), "\n"), "pushed") {
		t.Errorf("machine A did not say it pushed to %s:\n%s", repo, strings.Join(messages(a), "\n"))
	}
	tags, err := remote.List(mustRepo(t, repo))
	if err != nil || len(tags) < 2 {
		t.Fatalf("the registry holds tags %v (%v); want the final image and the state before the last step", tags, err)
	}
	imageA := builtImage(t, a)

	// Machine B, an empty cache and an image store without A's images,
	// reuses the whole build.
	if _, err := cliB.ImageInspect(context.Background(), imageA); err == nil {
		t.Fatalf("engine B holds A's image %s before the build", imageA)
	}
	b := bakeProcess(t, cliB, envB, dir, "-cache-from", repo)
	b.mustSucceed(t)
	steps := stepStatuses(t, b)
	if got := statusList(steps); got != "reused,reused,reused,reused,reused" {
		t.Fatalf("machine B's build steps: %s\n%s", got, strings.Join(messages(b), "\n"))
	}
	for i, st := range steps {
		if st.RunID != a.runID || st.Key != aSteps[i].Key {
			t.Errorf("B's step %s: key %s run %s; want A's key and run %s", st.Step, st.Key, st.RunID, a.runID)
		}
	}
	if n := provisionersRun(b); n != 0 {
		t.Errorf("machine B ran %d provisioners", n)
	}
	imageB := builtImage(t, b)
	if imageB != imageA {
		t.Errorf("machine B's image %s, A's %s: want the same id", imageB, imageA)
	}
	fa, fb := cachedImageFactsOf(t, cliA, imageA), cachedImageFactsOf(t, cliB, imageB)
	if !reflect.DeepEqual(fa.Config, fb.Config) {
		t.Errorf("B's image config differs from A's:\nA %+v\nB %+v", fa.Config, fb.Config)
	}
	for name, w := range fa.Files {
		if fb.Files[name] != w {
			t.Errorf("B's image: %s is %q, on A %q", name, fb.Files[name], w)
		}
	}
	for name, g := range fb.Files {
		if _, ok := fa.Files[name]; !ok {
			t.Errorf("B's image has %s (%q), A's has not", name, g)
		}
	}

	// A changed last step on A, shared; B starts from the state before it.
	if err := os.WriteFile(filepath.Join(dir, "last.sh"), []byte("#!/bin/sh\necho last-v2 > /srv/last\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheC := t.TempDir()
	envC := bakebin.Env(t, append(dockerd.Env(host, certs), "BAKE_CACHE_DIR="+cacheC, "BAKE_NO_CACHE=")...)
	c := bakeProcess(t, cliB, envC, dir, "-cache-from", repo)
	c.mustSucceed(t)
	if got := statusList(stepStatuses(t, c)); got != "reused,reused,reused,reused,run" {
		t.Fatalf("machine B, last step changed, empty cache: steps %s\n%s", got, strings.Join(messages(c), "\n"))
	}
	if got := runImageCmd(t, cliB, builtImage(t, c)); got != "last-v2\n" {
		t.Errorf("the image built on the shared state prints %q, want last-v2", got)
	}
	cliB.ImageRemove(context.Background(), builtImage(t, c), image.RemoveOptions{Force: true})

	// A registry that refuses: the build runs and succeeds, with a
	// warning naming the registry.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`))
	}))
	defer refusing.Close()
	bad := strings.TrimPrefix(refusing.URL, "http://") + "/team/cache"
	cacheD := t.TempDir()
	t.Cleanup(func() { removeCacheImages(t, cliA, cacheD) })
	envD := bakebin.Env(t, "BAKE_CACHE_DIR="+cacheD, "BAKE_NO_CACHE=")
	d := bakeProcess(t, cliA, envD, dir, "-cache-from", bad, "-cache-to", bad)
	d.mustSucceed(t)
	text := strings.Join(messages(d), "\n")
	if !strings.Contains(text, "warning: cache:") || !strings.Contains(text, bad) {
		t.Errorf("no warning naming %s:\n%s", bad, text)
	}
	if got := statusList(stepStatuses(t, d)); got != "run,run,run,run,run" {
		t.Errorf("build beside a refusing registry: steps %s", got)
	}
}

// messages is every message and error of a run's events.
func messages(r dockerRun) []string {
	var out []string
	for _, e := range r.events {
		if e.Message != "" {
			out = append(out, e.Message)
		}
		if e.Error != "" {
			out = append(out, e.Error)
		}
	}
	return out
}

func mustRepo(t *testing.T, ref string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// deleteTags removes what the test pushed (the registry keeps the blobs
// until its garbage collection).
func deleteTags(t *testing.T, ref string) {
	r := mustRepo(t, ref)
	tags, _ := remote.List(r)
	for _, tag := range tags {
		if d, err := remote.Head(r.Tag(tag)); err == nil {
			remote.Delete(r.Digest(d.Digest.String()))
		}
	}
}
