package templates

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestRequiredVersion: a packer {} constraint is met when any Packer
// release bake reads templates of (1.7 to 1.12) meets it.
func TestRequiredVersion(t *testing.T) {
	for _, tc := range []struct {
		constraint string
		ok         bool
	}{
		{"~> 1.9.0", true},
		{">= 1.12.0", true},
		{">= 1.7.0", true},
		{"= 1.9.4", true},
		{">= 1.8, < 1.10", true},
		{"~> 1.10", true},
		{"< 1.5", false},
		{">= 2.0.0", false},
		{"~> 1.6.0", false},
	} {
		t.Run(tc.constraint, func(t *testing.T) {
			src := "packer {\n  required_version = \"" + tc.constraint + "\"\n}\n"
			_, diags := loadMap(t, map[string]string{"t/a.pkr.hcl": src}, LoadOptions{})
			if tc.ok {
				if diags.HasErrors() {
					t.Fatalf("refused: %v", diags)
				}
				return
			}
			d := firstError(diags)
			if d == nil {
				t.Fatal("accepted")
			}
			if d.Summary != "Unsupported version" || d.Subject == nil || d.Subject.Start.Line != 2 ||
				!strings.Contains(d.Detail, "Packer 1.7.0 to 1.12.x") || !strings.Contains(d.Detail, tc.constraint) {
				t.Errorf("diagnostic %q: %q at %v", d.Summary, d.Detail, d.Subject)
			}
		})
	}
}

func firstError(diags hcl.Diagnostics) *hcl.Diagnostic {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			return d
		}
	}
	return nil
}

// TestSourceReferences: the reference forms Packer accepts in a build's
// sources list and source blocks.
func TestSourceReferences(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		warn bool
	}{
		{"source.box.one", false},
		{"sources.box.one", false},
		{"box.one", false},
		{"src.box.one", true},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			for _, form := range []string{
				"build {\n  sources = [\"" + tc.ref + "\"]\n}\n",
				"build {\n  source \"" + tc.ref + "\" {\n    name = \"two\"\n  }\n}\n",
			} {
				src := "source \"box\" \"one\" {\n  image = \"x\"\n}\n" + form
				p, diags := loadMap(t, map[string]string{"t/a.pkr.hcl": src}, LoadOptions{})
				if diags.HasErrors() {
					t.Fatalf("refused: %v", diags)
				}
				if got := p.Builds[0].Sources; len(got) != 1 || got[0].Type != "box" || got[0].Name != "one" {
					t.Fatalf("build sources %v", got)
				}
				if warned := len(diags) > 0; warned != tc.warn {
					t.Errorf("warnings %v, want warning %v", diags, tc.warn)
				}
			}
		})
	}
	_, diags := loadMap(t, map[string]string{"t/a.pkr.hcl": "source \"box\" \"one\" {\n  image = \"x\"\n}\nbuild {\n  sources = [\"sources.box.two\"]\n}\n"}, LoadOptions{})
	if d := firstError(diags); d == nil || d.Summary != "Unknown source" {
		t.Errorf("an undeclared three-part reference: %v", diags)
	}
}

// TestHCPPackerRegistry: an hcp_packer_registry block loads with a warning
// at the block; a misspelt option in it is still an error.
func TestHCPPackerRegistry(t *testing.T) {
	src := `source "box" "one" {
  image = "x"
}
build {
  hcp_packer_registry {
    bucket_name   = "golden"
    description   = "Golden images"
    bucket_labels = { team = "infra" }
    build_labels  = { os = "debian" }
  }
  sources = ["source.box.one"]
}
`
	_, diags := loadMap(t, map[string]string{"t/a.pkr.hcl": src}, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("refused: %v", diags)
	}
	if len(diags) != 1 || diags[0].Summary != "HCP Packer registry not supported" || diags[0].Subject.Start.Line != 5 {
		t.Errorf("want one warning at line 5, got %v", diags)
	}
	_, diags = loadMap(t, map[string]string{"t/a.pkr.hcl": strings.Replace(src, "bucket_name", "bucket_nam", 1)}, LoadOptions{})
	if !diags.HasErrors() {
		t.Error("a misspelt option in hcp_packer_registry was accepted")
	}
}
