package kinds

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/templates"
)

// TestTable checks that the table names every kind the design promises
// and that each config decodes (its hcl tags are well-formed) and
// prepares without panicking.
func TestTable(t *testing.T) {
	k := All()
	want := map[string][]string{
		"source":         {"docker", "qemu", "amazon-ebs", "null"},
		"provisioner":    {"shell", "file", "shell-local", "breakpoint", "ansible", "ansible-local", "sleep"},
		"post-processor": {"manifest", "checksum", "compress", "shell-local", "docker-tag", "docker-push", "docker-save", "docker-import"},
		"data":           {"amazon-ami"},
	}
	tables := map[string]map[string]templates.Kind{
		"source": k.Sources, "provisioner": k.Provisioners, "post-processor": k.PostProcessors,
		"data": {},
	}
	for name, dk := range k.DataSources {
		tables["data"][name] = dk.Kind
		if dk.Type == cty.NilType {
			t.Errorf("data %q: no result type", name)
		}
		if dk.Execute == nil {
			t.Errorf("data %q: nil Execute", name)
		}
	}
	for block, names := range want {
		for _, n := range names {
			kd, ok := tables[block][n]
			if !ok {
				t.Errorf("%s %q missing from the table", block, n)
				continue
			}
			t.Run(block+"/"+n, func(t *testing.T) {
				cfg := kd.New()
				if cfg == nil {
					t.Fatal("New returned nil")
				}
				if cfg == kd.New() {
					t.Fatal("New returned the same config twice")
				}
				f, diags := hclsyntax.ParseConfig(nil, "empty.hcl", hcl.InitialPos)
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				b, _ := templates.Decode(f.Body, nil, n, hcl.Range{Filename: "empty.hcl"}, cfg)
				_ = cfg.Prepare(b) // errors expected; a panic is the failure
			})
		}
	}
}

// TestTemplatesImportsNoBakePackage enforces the design's import
// direction: the template loader knows no builder, provisioner or engine
// (its own subpackages, such as templates/interpolate, are part of it).
func TestTemplatesImportsNoBakePackage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/bake-tool/bake/templates").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		// Its own subpackages (templates/interpolate) are part of it.
		if strings.HasPrefix(p, "github.com/bake-tool/bake/") && p != "github.com/bake-tool/bake/templates" &&
			!strings.HasPrefix(p, "github.com/bake-tool/bake/templates/") {
			t.Errorf("templates depends on %s", p)
		}
	}
}

// TestArtifactsImportsNoBuildPackage enforces the other end of the design's
// data flow: artifacts know nothing of how they were made, so the
// manifest, signing and verification import no builder, provisioner,
// communicator, template or engine package (only the ui interface their
// post-processors report through).
func TestArtifactsImportsNoBuildPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/bake-tool/bake/artifacts").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/bake-tool/bake/") && p != "github.com/bake-tool/bake/artifacts" &&
			p != "github.com/bake-tool/bake/ui" {
			t.Errorf("artifacts depends on %s", p)
		}
	}
}
