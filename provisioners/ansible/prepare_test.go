package ansible

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
)

// prepare fills in cfg's defaults and runs the validate-time syntax
// check, as Prepare does for a block that sets what cfg sets.
func prepare(t *testing.T, cfg *Config) {
	t.Helper()
	cfg.setDefaults()
	if cfg.GalaxyFile == "" {
		if msg := syntaxCheck(cfg); msg != "" {
			t.Fatal(msg)
		}
	}
}

// prepareText decodes src as an ansible block body into cfg and prepares
// it.
func prepareText(t *testing.T, src string, cfg *Config) hcl.Diagnostics {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, diags := templates.Decode(f.Body, nil, "ansible", hcl.Range{Filename: "test.pkr.hcl"}, cfg)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg.Prepare(b)
}

// TestPrepare: defaults are Packer's, and validate catches what it can.
func TestPrepare(t *testing.T) {
	needAnsible(t)
	cfg := &Config{}
	diags := prepareText(t, `playbook_file = "testdata/ping.yml"`, cfg)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Command != "ansible-playbook" || cfg.GalaxyCommand != "ansible-galaxy" || cfg.HostAlias != "default" ||
		cfg.SFTPCmd != "/usr/lib/sftp-server -e" || cfg.UseProxy != nil || cfg.LocalPort != 0 {
		t.Errorf("defaults: %+v", cfg)
	}

	tests := []struct{ name, src, want string }{
		{"no playbook", ``, `"playbook_file"`},
		{"missing playbook", `playbook_file = "testdata/nope.yml"`, "not a readable file"},
		{"syntax error", `playbook_file = "testdata/syntax_error.yml"`, "Playbook syntax error"},
		{"bad port", "playbook_file = \"testdata/ping.yml\"\nlocal_port = 70000", "not a TCP port"},
		{"bad env", "playbook_file = \"testdata/ping.yml\"\nansible_env_vars = [\"=x\"]", "KEY=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diags := prepareText(t, tt.src, &Config{})
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
				t.Fatalf("diags = %v, want an error with %q", diags, tt.want)
			}
		})
	}
}

var _ provisioners.Provisioner = (*Provisioner)(nil)
