package legacyjson

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

var update = flag.Bool("update", false, "rewrite the golden upgrade files in testdata")

func decodeFile(t testing.TB, name string, src []byte) (*Template, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclparse.NewParser().ParseJSON(src, name)
	if diags.HasErrors() {
		return nil, diags
	}
	return Decode(f)
}

// testSchemas knows amazon-ebs's nested blocks, as the kinds table would.
func testSchemas(section, typ string) Schema {
	if section == "source" && typ == "amazon-ebs" {
		return Schema{"source_ami_filter": Schema{}, "launch_block_device_mappings": Schema{}}
	}
	if typ == "docker" || typ == "shell" {
		return Schema{}
	}
	return nil
}

func TestDecode(t *testing.T) {
	src, err := os.ReadFile("testdata/docker.json")
	if err != nil {
		t.Fatal(err)
	}
	tpl, diags := decodeFile(t, "docker.json", src)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if tpl.Description != "base image with motd" || tpl.MinVersion != "1.5.0" || tpl.MinVersionRange.Start.Line != 4 {
		t.Errorf("description %q, min version %q at %v", tpl.Description, tpl.MinVersion, tpl.MinVersionRange)
	}
	var names []string
	for _, v := range tpl.Variables {
		d := "<required>"
		if v.Default != nil {
			d = *v.Default
		}
		names = append(names, v.Name+"="+d)
		if v.Sensitive != (v.Name == "api_token") {
			t.Errorf("variable %s sensitive %v", v.Name, v.Sensitive)
		}
	}
	want := "base_image=bake.local/debian:bookworm owner={{env `BAKE_TEST_OWNER`}} motd=built by {{user `owner`}} at {{timestamp}} api_token=<required> retries=2"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("variables\n got %s\nwant %s", got, want)
	}
	if len(tpl.Builders) != 2 || tpl.Builders[0].Type != "docker" || tpl.Builders[0].Name != "" || tpl.Builders[1].Name != "slim image" {
		t.Fatalf("builders %+v", tpl.Builders)
	}
	if r := tpl.Builders[1].TypeRange; r.Start.Line != 25 {
		t.Errorf("second builder's type at %v, want line 25", r)
	}
	if len(tpl.Provisioners) != 3 || tpl.ErrorCleanupProvisioner == nil || tpl.ErrorCleanupProvisioner.Type != "shell-local" {
		t.Errorf("provisioners %d, cleanup %+v", len(tpl.Provisioners), tpl.ErrorCleanupProvisioner)
	}
	var seqs []string
	for _, seq := range tpl.PostProcessors {
		var s []string
		for _, p := range seq {
			s = append(s, p.Type)
		}
		seqs = append(seqs, strings.Join(s, ">"))
	}
	if got := strings.Join(seqs, " "); got != "compress manifest docker-tag>docker-push" {
		t.Errorf("post-processor sequences %s", got)
	}
	// A builder's body reads its options; type and name are not options.
	c, diags := tpl.Builders[1].Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "image"}, {Name: "export_path"}}})
	if diags.HasErrors() || len(c.Attributes) != 2 {
		t.Errorf("builder body: %v %v", c.Attributes, diags)
	}
	// Strings stay literal whatever the context: no ${ } in legacy JSON.
	c, _ = tpl.Provisioners[0].Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "inline"}, {Name: "environment_vars"},
		{Name: "pause_before"}, {Name: "timeout"}, {Name: "max_retries"}, {Name: "override"}}})
	v, diags := c.Attributes["inline"].Expr.Value(&hcl.EvalContext{})
	if diags.HasErrors() || v.Index(ctyNumber(1)).AsString() != "echo ${HOME} $${x} %{y}" {
		t.Errorf("inline = %#v %v", v, diags)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, summary string
		line, col          int
	}{
		{"unknown root key", "{\n  \"builders\": [{\"type\": \"docker\"}],\n  \"provisioner\": []\n}", "Unknown root level key", 3, 3},
		{"builder without type", "{\n  \"builders\": [\n    {\"image\": \"x\"}\n  ]\n}", "Missing type", 3, 5},
		{"no builders", "{\n  \"variables\": {}\n}", "No builders", 1, 1},
		{"nested sequence", "{\"builders\": [{\"type\": \"a\"}],\n\"post-processors\": [[\"a\", [\"b\"]]]}", "Invalid post-processor", 2, 27},
		{"unknown sensitive variable", "{\"builders\": [{\"type\": \"a\"}],\n \"variables\": {\"a\": \"\"},\n \"sensitive-variables\": [\"b\"]}", "Unknown sensitive variable", 3, 26},
		{"object default", "{\"builders\": [{\"type\": \"a\"}],\n \"variables\": {\"a\": {\"b\": 1}}}", "Invalid variable default", 2, 21},
		{"duplicate option", "{\"builders\": [{\"type\": \"a\",\n \"x\": 1,\n \"x\": 2}]}", "Duplicate key", 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := decodeFile(t, "t.json", []byte(tc.src))
			for _, d := range diags {
				if d.Summary == tc.summary {
					if d.Subject == nil || d.Subject.Start.Line != tc.line || d.Subject.Start.Column != tc.col {
						t.Errorf("%s at %v, want t.json:%d,%d", d.Summary, d.Subject, tc.line, tc.col)
					}
					return
				}
			}
			t.Errorf("no %q among %v", tc.summary, diags)
		})
	}
}

// TestBodyBlocks: a key the schema names as a block is read from an
// object or a list of objects; an unknown key is an error at the key
// with a suggestion.
func TestBodyBlocks(t *testing.T) {
	src := "{\"builders\": [{\"type\": \"amazon-ebs\",\n \"filter\": {\"owners\": [\"1\"]},\n \"disks\": [{\"size\": 1}, {\"size\": 2}],\n \"regon\": \"x\"}]}"
	tpl, diags := decodeFile(t, "t.json", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	schema := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "region"}},
		Blocks: []hcl.BlockHeaderSchema{{Type: "filter"}, {Type: "disks"}}}
	c, diags := tpl.Builders[0].Body.Content(schema)
	if len(c.Blocks.OfType("filter")) != 1 || len(c.Blocks.OfType("disks")) != 2 {
		t.Errorf("blocks %v", c.Blocks)
	}
	if len(diags) != 1 || diags[0].Summary != "Unsupported argument" || diags[0].Subject.Start.Line != 4 ||
		!strings.Contains(diags[0].Detail, `Did you mean "region"?`) {
		t.Errorf("diagnostics %v", diags)
	}
}

// TestUpgradeGolden: each fixture's upgrade is its golden .pkr.hcl
// (go test -run TestUpgradeGolden -update rewrites them), parses as HCL
// and is already formatted.
func TestUpgradeGolden(t *testing.T) {
	for _, name := range []string{"docker.json", "amazon.json"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			tpl, diags := decodeFile(t, name, src)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			out := hclwrite.Format(Upgrade(tpl, testSchemas))
			if _, diags := hclparse.NewParser().ParseHCL(out, name+".pkr.hcl"); diags.HasErrors() {
				t.Fatalf("the upgrade does not parse: %v\n%s", diags, out)
			}
			golden := filepath.Join("testdata", name+".pkr.hcl")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(want) {
				t.Errorf("upgrade differs from %s:\n%s", golden, out)
			}
		})
	}
}

func ctyNumber(i int) cty.Value { return cty.NumberIntVal(int64(i)) }

// TestHugeNumbers: a number too large for Packer's JSON (a float64) is an
// error in a variable default, and the upgrade writes any number in its
// short form, so 1e999999 cannot make a megabyte of digits.
func TestHugeNumbers(t *testing.T) {
	src := "{\"variables\": {\"n\": 1e999999, \"m\": 2},\n \"builders\": [{\"type\": \"x\", \"size\": 1e999999, \"count\": 20, \"neg\": -3.5E2}]}"
	tpl, diags := decodeFile(t, "t.json", []byte(src))
	if len(diags) != 1 || diags[0].Summary != "Invalid variable default" {
		t.Fatalf("diagnostics %v", diags)
	}
	if len(tpl.Variables) != 1 || *tpl.Variables[0].Default != "2" {
		t.Errorf("variables %+v", tpl.Variables)
	}
	out := string(Upgrade(tpl, nil))
	if len(out) > 2000 || !strings.Contains(out, "size = 1e999999") || !strings.Contains(out, "count = 20") || !strings.Contains(out, "neg = -3.5E2") {
		t.Errorf("upgrade (%d bytes):\n%.2000s", len(out), out)
	}
}
