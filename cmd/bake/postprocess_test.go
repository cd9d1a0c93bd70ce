package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/ui"
)

// diskBuilder stands in for the qemu builder: it returns an artifact of
// the qemu builder's shape (one disk file, its digest and format).
type diskBuilder struct{ disk string }

func (b diskBuilder) Build(ctx context.Context, ui ui.UI, hook builder.Hook) (*artifacts.Artifact, error) {
	sum, size, err := artifacts.FileSHA256(b.disk)
	if err != nil {
		return nil, err
	}
	return &artifacts.Artifact{Builder: "qemu", ID: b.disk, Files: []string{b.disk},
		Items:   []artifacts.Item{{ExternalIdentifier: b.disk, Digest: "sha256:" + sum, Size: size, Format: "qcow2", Path: b.disk}},
		Destroy: func(context.Context) error { return os.Remove(b.disk) }}, nil
}

type failingPP struct{ err error }

func (p failingPP) PostProcess(context.Context, ui.UI, *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	return nil, false, p.err
}

// TestFailedPostProcessorQemuDiskListed is the qemu case of a failed
// post-processor, at unit level (no qemu runs): the disk stays, the run
// manifest lists it under the failed build with its sha256 (no subject),
// and the summary says it may remain.
func TestFailedPostProcessorQemuDiskListed(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "output-web", "web.qcow2")
	if err := os.MkdirAll(filepath.Dir(disk), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(disk, []byte("qcow2 disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := &engine.Job{Name: "qemu.web", Type: "qemu",
		NewBuilder: func(builder.Options) (builder.Builder, error) { return diskBuilder{disk}, nil },
		PostProcessors: [][]*engine.PostProcessorStep{{{Type: "shell-local",
			Make: func(provisioners.BuildInfo) (artifacts.PostProcessor, error) {
				return failingPP{errors.New("exit status 1")}, nil
			}}}},
	}
	results := engine.Run(context.Background(), []*engine.Job{job}, engine.Options{})
	if results[0].Status != engine.StatusFailed {
		t.Fatalf("status %s, want failed", results[0].Status)
	}
	if _, err := os.Stat(disk); err != nil {
		t.Errorf("the disk was removed: %v", err)
	}

	var summary bytes.Buffer
	printSummary(&summary, results, redact.New(nil), false)
	if !strings.Contains(summary.String(), "may remain (artifact of this build): qemu: "+disk) {
		t.Errorf("the summary does not say the disk may remain:\n%s", summary.String())
	}

	st, err := artifacts.NewRunManifest(artifacts.RunInfo{RunID: "run-1", CreatedAt: time.Now()}, buildRecords(results))
	if err != nil {
		t.Fatal(err)
	}
	sum, _, _ := artifacts.FileSHA256(disk)
	b := st.Predicate.Builds[0]
	if b.Status != artifacts.StatusFailed || len(b.Artifacts) != 1 || b.Artifacts[0].ExternalIdentifier != disk || b.Artifacts[0].Digest != "sha256:"+sum {
		t.Errorf("the manifest records %+v, want the failed build with its disk", b)
	}
	if len(st.Subject) != 0 {
		t.Errorf("a failed build's disk is a subject: %+v", st.Subject)
	}
}
