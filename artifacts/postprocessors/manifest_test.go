package postprocessors

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
)

// Helper process for TestManifestConcurrentProcesses: the test binary
// re-executed with these variables appends entries and exits.
const (
	helperEnv   = "BAKE_PP_TEST_HELPER"
	helperOut   = "BAKE_PP_TEST_OUTPUT"
	helperCount = "BAKE_PP_TEST_COUNT"
)

func TestMain(m *testing.M) {
	if id := os.Getenv(helperEnv); id != "" {
		n, _ := strconv.Atoi(os.Getenv(helperCount))
		for i := range n {
			pp := NewManifest(&ManifestConfig{Output: os.Getenv(helperOut)}, RunContext{RunUUID: "run-" + id})
			in := &artifacts.Artifact{Builder: "docker", Build: "docker.p" + id, ID: fmt.Sprintf("p%s-%d", id, i)}
			if _, _, err := pp.PostProcess(context.Background(), nil, in); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func readManifest(t *testing.T, path string) (builds []PackerBuild, last string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pm PackerManifest
	if err := json.Unmarshal(data, &pm); err != nil {
		t.Fatalf("manifest is not valid JSON: %v\n%s", err, data)
	}
	for _, raw := range pm.Builds {
		var b PackerBuild
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		builds = append(builds, b)
	}
	return builds, pm.LastRunUUID
}

func TestManifestPostProcess(t *testing.T) {
	dir := t.TempDir()
	disk := filepath.Join(dir, "output-qemu", "disk.qcow2")
	os.MkdirAll(filepath.Dir(disk), 0o755)
	os.WriteFile(disk, make([]byte, 1234), 0o644)
	out := filepath.Join(dir, "packer-manifest.json")
	now := func() time.Time { return time.Unix(1700000000, 0) }
	in := &artifacts.Artifact{Builder: "qemu", Build: "qemu.web", ID: "disk.qcow2", Files: []string{disk}}

	// Another tool's field in an existing entry survives an append.
	os.WriteFile(out, []byte(`{"builds":[{"name":"old","builder_type":"null","files":null,"artifact_id":"x","packer_run_uuid":"r0","custom_data":null,"extra":42}],"last_run_uuid":"r0"}`), 0o644)

	pp := NewManifest(&ManifestConfig{Output: out, CustomData: map[string]string{"team": "web"}}, RunContext{RunUUID: "r1", Now: now})
	got, keep, err := pp.PostProcess(context.Background(), nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if got != in || !keep {
		t.Errorf("manifest must pass its input through and keep it")
	}
	pp = NewManifest(&ManifestConfig{Output: out, StripPath: true, StripTime: true}, RunContext{RunUUID: "r2", BuildName: "custom", BuilderType: "qemu"})
	if _, _, err := pp.PostProcess(context.Background(), nil, in); err != nil {
		t.Fatal(err)
	}

	builds, last := readManifest(t, out)
	if last != "r2" || len(builds) != 3 {
		t.Fatalf("last_run_uuid %q, %d builds", last, len(builds))
	}
	want1 := PackerBuild{Name: "web", BuilderType: "qemu", BuildTime: 1700000000, Files: []PackerFile{{Name: disk, Size: 1234}},
		ArtifactID: "disk.qcow2", PackerRunUUID: "r1", CustomData: map[string]string{"team": "web"}}
	if a, b := fmt.Sprint(builds[1]), fmt.Sprint(want1); a != b {
		t.Errorf("entry:\n got %s\nwant %s", a, b)
	}
	if b := builds[2]; b.Name != "custom" || b.BuildTime != 0 || b.Files[0].Name != "disk.qcow2" {
		t.Errorf("strip_path/strip_time entry: %+v", b)
	}
	raw, _ := os.ReadFile(out)
	var generic map[string][]map[string]any
	json.Unmarshal(raw, &generic)
	if generic["builds"][0]["extra"] != float64(42) {
		t.Error("an unknown field of an existing entry was lost")
	}
	if _, ok := generic["builds"][2]["build_time"]; ok {
		t.Error("strip_time still writes build_time")
	}

	// A file that is not a manifest is not overwritten.
	os.WriteFile(out, []byte("not json"), 0o644)
	if _, _, err := pp.PostProcess(context.Background(), nil, in); err == nil {
		t.Error("overwrote a file that is not a packer manifest")
	}
}

// TestManifestConcurrent: builds of one run appending at once lose no
// entry.
func TestManifestConcurrent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "packer-manifest.json")
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				pp := NewManifest(&ManifestConfig{Output: out}, RunContext{RunUUID: "run"})
				in := &artifacts.Artifact{Builder: "docker", Build: fmt.Sprintf("docker.g%d", w), ID: fmt.Sprintf("g%d-%d", w, i)}
				if _, _, err := pp.PostProcess(context.Background(), nil, in); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	checkAllEntries(t, out, "g", workers, each)
}

// TestManifestConcurrentProcesses: bake processes appending to one
// packer-manifest.json at once lose no entry.
func TestManifestConcurrentProcesses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "packer-manifest.json")
	const procs, each = 4, 15
	var cmds []*exec.Cmd
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+strconv.Itoa(p), helperOut+"="+out, helperCount+"="+strconv.Itoa(each))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	checkAllEntries(t, out, "p", procs, each)
}

func checkAllEntries(t *testing.T, out, prefix string, workers, each int) {
	t.Helper()
	builds, _ := readManifest(t, out)
	seen := map[string]bool{}
	for _, b := range builds {
		seen[b.ArtifactID] = true
	}
	for w := range workers {
		for i := range each {
			if id := fmt.Sprintf("%s%d-%d", prefix, w, i); !seen[id] {
				t.Errorf("entry %s lost", id)
			}
		}
	}
	if len(builds) != workers*each {
		t.Errorf("%d entries, want %d", len(builds), workers*each)
	}
	noLockFiles(t, filepath.Dir(out))
}

// noLockFiles fails the test if a lock file was left in dir.
func noLockFiles(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "*.lock"))
	if len(left) > 0 {
		t.Errorf("lock files left beside the outputs: %v", left)
	}
}
