package null_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/postprocessors"
	"github.com/bake-tool/bake/builder/null"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/kinds"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/file"
	"github.com/bake-tool/bake/provisioners/shell"
	"github.com/bake-tool/bake/provisioners/shelllocal"
	"github.com/bake-tool/bake/templates"
)

// registry wires this package's builder and the provisioners and
// post-processors that run without a machine, as internal/kinds does.
func registry() engine.Registry {
	return engine.Registry{
		Builders: map[string]engine.BuilderFunc{"null": null.NewBuilder},
		Provisioners: map[string]engine.ProvisionerFunc{
			"shell":       shell.NewProvisioner,
			"file":        file.NewProvisioner,
			"shell-local": shelllocal.NewProvisioner,
		},
		PostProcessors: map[string]engine.PostProcessorFunc{
			"shell-local": shelllocal.NewPostProcessor,
			"compress": func(cfg templates.Config, info provisioners.BuildInfo) (artifacts.PostProcessor, error) {
				return postprocessors.NewCompress(cfg.(*postprocessors.CompressConfig), postprocessors.RunContext{}), nil
			},
		},
	}
}

// TestThroughEngine runs a template with a null source through the
// engine: shell-local provisioner and post-processor see the build's
// variables, in order.
func TestThroughEngine(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	tmpl := `
source "null" "box" {
  communicator = "none"
}
build {
  sources = ["source.null.box"]
  provisioner "shell-local" {
    inline = ["echo \"prov $PACKER_BUILD_NAME $PACKER_BUILDER_TYPE $BAKE_RUN_ID\" >> ` + log + `"]
  }
  post-processor "shell-local" {
    inline = ["echo \"pp $BAKE_ARTIFACT_ID\" >> ` + log + `"]
  }
}
`
	path := filepath.Join(dir, "t.pkr.hcl")
	if err := os.WriteFile(path, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, diags := templates.Load(path, templates.LoadOptions{Kinds: kinds.All(), Context: t.Context()})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	selected, diags := plan.Select(nil, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	jobs, err := engine.Jobs(plan, selected, registry())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []string
	results := engine.Run(context.Background(), jobs, engine.Options{RunID: "run-e2e", Sink: func(e engine.Event) {
		mu.Lock()
		events = append(events, string(e.Type)+" "+e.Step+" "+e.Message+" "+e.Error)
		mu.Unlock()
	}})
	if len(results) != 1 || results[0].Err != nil {
		t.Fatalf("results %+v\nevents:\n%s", results, strings.Join(events, "\n"))
	}
	if arts := results[0].Artifacts; len(arts) != 1 || arts[0].ID != "null" {
		t.Errorf("artifacts %v", arts)
	}
	b, _ := os.ReadFile(log)
	if got, want := string(b), "prov box null run-e2e\npp null\n"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}
