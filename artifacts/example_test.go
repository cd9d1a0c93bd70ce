package artifacts_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts"
)

// The engine, after all builds: build the statement, sign it, write it
// atomically; a deployer then verifies it against an artifact.
func ExampleNewRunManifest() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "disk.qcow2")
	os.WriteFile(disk, []byte("image"), 0o644)

	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st, err := artifacts.NewRunManifest(artifacts.RunInfo{
		RunID: "run-1", CreatedAt: start, BakeVersion: "1.0.0",
		TemplatePath: "web.pkr.hcl", TemplateSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}, []artifacts.BuildRecord{
		{Name: "qemu.web", Builder: "qemu", Status: artifacts.StatusSucceeded, Started: start, Finished: start.Add(time.Minute),
			Artifacts: []*artifacts.Artifact{{Builder: "qemu", Build: "qemu.web", ID: disk, Files: []string{disk}}}},
		{Name: "docker.web", Builder: "docker", Status: artifacts.StatusFailed, Started: start, Finished: start.Add(time.Minute),
			Err: errors.New("pull debian:12: not found")},
	})
	if err != nil {
		fmt.Println(err)
	}
	key, _ := artifacts.GenerateKey(artifacts.KeyECDSAP256)
	path := filepath.Join(dir, "bake-manifest.sigstore.json")
	if err := artifacts.WriteRunManifest(path, st, key); err != nil {
		fmt.Println(err)
	}

	bundle, _ := os.ReadFile(path)
	v, err := artifacts.Verify(bundle, key.Public(), artifacts.VerifyOptions{Artifacts: []string{disk}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, b := range v.Statement.Predicate.Builds {
		fmt.Println(strings.TrimSpace(fmt.Sprint(b.Name, " ", b.Status, " ", b.Error)))
	}
	fmt.Println(v.Artifacts[0].Subject, v.Artifacts[0].SHA256)
	// Output:
	// qemu.web succeeded
	// docker.web failed pull debian:12: not found
	// disk.qcow2 6105d6cc76af400325e94d588ce511be5bfdbb73b437dc51eca43917d7a43e3d
}
