package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// BenchmarkSBOMReferenceImage builds the reference image (the docker base
// image, one shell step) with a manifest and reports what the SBOM adds:
// the package inventory through the docker communicator (s/inventory, the
// engine's own step timing) and the SBOM files written beside the manifest
// (packages/op). Run: go test -run '^$' -bench SBOMReferenceImage -benchtime 3x ./cmd/bake/
func BenchmarkSBOMReferenceImage(b *testing.B) {
	if os.Getenv("BAKE_NO_CACHE") == "" {
		b.Setenv("BAKE_NO_CACHE", "1")
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(`
source "docker" "ref" {
  image       = "`+testenv.BaseImage()+`"
  pull        = false
  export_path = "`+filepath.Join(dir, "ref.tar")+`"
}
build {
  sources = ["source.docker.ref"]
  provisioner "shell" { inline = ["true"] }
}
`), 0o644); err != nil {
		b.Fatal(err)
	}
	var inv float64
	pkgs := 0
	for i := 0; i < b.N; i++ {
		os.Remove(filepath.Join(dir, "ref.tar"))
		code, stdout, stderr := benchRun(os.Environ(), "build", "-json", "-force", "-manifest", filepath.Join(dir, "m.sigstore.json"), dir)
		if code != exitOK {
			b.Fatalf("exit %d: %s", code, stderr)
		}
		sc := bufio.NewScanner(strings.NewReader(stdout))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e engine.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type == engine.EventStepFinished && e.Step == "package inventory" {
				inv += e.Elapsed
			}
		}
		_, list, _ := benchRun(nil, "sbom", filepath.Join(dir, "m.sigstore.json"), "-build", "docker.ref", "-allow-unsigned", "-packages")
		pkgs = 0
		for _, c := range list {
			if c == '\n' {
				pkgs++
			}
		}
	}
	b.ReportMetric(inv/float64(b.N), "s/inventory")
	b.ReportMetric(float64(pkgs), "packages")
}

// benchRun runs bake in-process, as bakeRun does for tests.
func benchRun(environ []string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	env := &cliEnv{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(""), environ: environ}
	code := run(context.Background(), env, args)
	return code, stdout.String(), stderr.String()
}
