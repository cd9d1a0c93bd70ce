package templates

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const legacyBoxJSON = `{
  "description": "two boxes",
  "min_packer_version": "1.6.0",
  "variables": {
    "greeting": "{{user ` + "`who`" + `}} says hi",
    "who": "{{env ` + "`BOX_WHO`" + `}}",
    "token": "t0k3n-value",
    "image": "debian"
  },
  "sensitive-variables": ["token"],
  "builders": [
    {"type": "box", "image": "{{user ` + "`image`" + `}}:{{build_name}}", "tags": {"owner": "{{user ` + "`who`" + `}}"}, "wait": "5s"},
    {"type": "box", "name": "second", "image": "${HOME}"}
  ],
  "provisioners": [
    {
      "type": "shell",
      "inline": ["echo {{user ` + "`greeting`" + `}}", "echo {{user ` + "`token`" + `}}"],
      "pause_before": "3s",
      "timeout": "1m",
      "max_retries": "2",
      "override": {"second": {"inline": ["echo second"]}}
    },
    {"type": "shell", "only": ["box"], "script": "a.sh"},
    {"type": "shell", "except": ["box"], "script": "b.sh"}
  ],
  "post-processors": [
    {"type": "stamp", "script": "s0"},
    [{"type": "stamp", "inline": ["x"]}, {"type": "stamp", "only": ["second"], "keep_input_artifact": true, "script": "s"}]
  ]
}
`

// TestLegacyJSONLoads: a legacy JSON template loads into the Plan an
// HCL2 template would: variables rendered ({{env}} in a default, {{user}}
// of a variable declared after), builders as sources named by name or
// type, provisioners with their meta keys, post-processor sequences.
func TestLegacyJSONLoads(t *testing.T) {
	p, diags := loadMapAt(t, map[string]string{"t/box.json": legacyBoxJSON}, "t/box.json", LoadOptions{Env: []string{"BOX_WHO=ann"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	vals := map[string]string{}
	for _, v := range p.Variables {
		vals[v.Name] = v.Value.AsString()
	}
	if vals["greeting"] != "ann says hi" || vals["who"] != "ann" {
		t.Errorf("variables %v", vals)
	}
	if got := p.SensitiveValues(); !reflect.DeepEqual(got, []string{"t0k3n-value"}) {
		t.Errorf("sensitive values %q", got)
	}
	if len(p.Requirements) != 1 || p.Requirements[0].RequiredVersion != ">= 1.6.0" {
		t.Errorf("requirements %+v", p.Requirements)
	}
	if got := p.Names(); !reflect.DeepEqual(got, []string{"box.box", "box.second"}) {
		t.Fatalf("build sources %v", got)
	}
	b := p.Builds[0]
	if b.Description != "two boxes" {
		t.Errorf("description %q", b.Description)
	}
	first := b.Sources[0].Config.(*tSource)
	if first.Image != "debian:box" || first.Tags["owner"] != "ann" || first.Wait != 5*time.Second {
		t.Errorf("first source %+v", first)
	}
	if second := b.Sources[1].Config.(*tSource); second.Image != "${HOME}" {
		t.Errorf("a legacy string is literal: image %q", second.Image)
	}
	if len(b.Provisioners) != 3 {
		t.Fatalf("%d provisioners", len(b.Provisioners))
	}
	pv := b.Provisioners[0]
	if pv.PauseBefore != 3*time.Second || pv.Timeout != time.Minute || pv.MaxRetries != 2 || !reflect.DeepEqual(pv.Override, []string{"second"}) {
		t.Errorf("meta %+v", pv)
	}
	cfg, _, diags := p.DecodeProvisioner(pv, b.Sources[0], BuildValues{})
	if diags.HasErrors() || !reflect.DeepEqual(cfg.(*tProv).Inline, []string{"echo ann says hi", "echo t0k3n-value"}) {
		t.Errorf("first source's inline %v %v", cfg, diags)
	}
	cfg, _, _ = p.DecodeProvisioner(pv, b.Sources[1], BuildValues{})
	if !reflect.DeepEqual(cfg.(*tProv).Inline, []string{"echo second"}) {
		t.Errorf("override: second source's inline %v", cfg.(*tProv).Inline)
	}
	if n := len(b.ProvisionersFor(b.Sources[0])); n != 2 {
		t.Errorf("box runs %d provisioners, want 2 (except)", n)
	}
	if n := len(b.ProvisionersFor(b.Sources[1])); n != 2 {
		t.Errorf("second runs %d provisioners, want 2 (only)", n)
	}
	if len(b.PostProcessors) != 2 || len(b.PostProcessors[0]) != 1 || len(b.PostProcessors[1]) != 2 ||
		b.PostProcessors[1][1].KeepInputArtifact == nil || len(b.PostProcessorsFor(b.Sources[0])[1]) != 1 {
		t.Errorf("post-processors %v", b.PostProcessors)
	}

	// -var wins over a default, and a default using it follows.
	p, diags = loadMapAt(t, map[string]string{"t/box.json": legacyBoxJSON}, "t/box.json", LoadOptions{Vars: []string{"who=bob"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, v := range p.Variables {
		if v.Name == "greeting" && v.Value.AsString() != "bob says hi" {
			t.Errorf("greeting %q with -var who=bob", v.Value.AsString())
		}
	}
}

// TestLegacyJSONDiagnostics: a mistake in a legacy JSON template is
// reported at the JSON key or value, as an HCL2 one is.
func TestLegacyJSONDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, src, summary string
		line, col          int
	}{
		{"unknown option", "{\"builders\": [{\"type\": \"box\",\n  \"image\": \"x\",\n  \"imag\": \"y\"}]}", "Unsupported argument", 3, 3},
		{"wrong type", "{\"builders\": [{\"type\": \"box\",\n  \"image\": \"x\",\n  \"wait\": \"soon\"}]}", "Incorrect attribute value type", 3, 11},
		{"missing option", "{\"builders\": [\n  {\"type\": \"box\"}]}", "Missing required option", 2, 12},
		{"unknown kind", "{\"builders\": [\n  {\"type\": \"crate\"}]}", "Unknown source type", 2, 12},
		{"unknown provisioner", "{\"builders\": [{\"type\": \"box\", \"image\": \"x\"}],\n \"provisioners\": [{\"type\": \"shel\"}]}", "Unknown provisioner type", 2, 28},
		{"only names no builder", "{\"builders\": [{\"type\": \"box\", \"image\": \"x\"}],\n \"provisioners\": [{\"type\": \"shell\", \"script\": \"a\",\n  \"only\": [\"crate\"]}]}", "Unknown build source", 3, 11},
		{"unknown function", "{\"builders\": [{\"type\": \"box\",\n  \"image\": \"{{ nope }}\"}]}", "Invalid {{ }} interpolation", 2, 12},
		{"unknown user variable", "{\"builders\": [{\"type\": \"box\",\n  \"image\": \"{{user `nope`}}\"}]}", "Invalid {{ }} interpolation", 2, 12},
		{"env outside a variable", "{\"builders\": [{\"type\": \"box\",\n  \"image\": \"{{env `HOME`}}\"}]}", "Invalid {{ }} interpolation", 2, 12},
		{"too new", "{\"min_packer_version\": \"2.0.0\",\n \"builders\": [{\"type\": \"box\", \"image\": \"x\"}]}", "Unsupported version", 1, 24},
		{"required variable", "{\"variables\": {\n  \"v\": null},\n \"builders\": [{\"type\": \"box\", \"image\": \"x\"}]}", "Unset variable", 2, 3},
		{"JSON syntax", "{\"builders\": [\n  {\"type\": \"box\",}]}", "Trailing comma in object", 2, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := loadMapAt(t, map[string]string{"t/t.json": tc.src}, "t/t.json", LoadOptions{})
			d := firstError(diags)
			if d == nil {
				t.Fatalf("no error; %v", diags)
			}
			if d.Summary != tc.summary || d.Subject == nil || d.Subject.Filename != "t/t.json" ||
				d.Subject.Start.Line != tc.line || d.Subject.Start.Column != tc.col {
				t.Errorf("%q at %v, want %q at t/t.json:%d,%d (%s)", d.Summary, d.Subject, tc.summary, tc.line, tc.col, d.Detail)
			}
		})
	}
}

// TestLegacyJSONUpgradeLoadsSame: the upgrade of a legacy template loads
// to the same configurations, and {{user}} and {{env}} are HCL2 in it.
func TestLegacyJSONUpgradeLoadsSame(t *testing.T) {
	src := strings.ReplaceAll(legacyBoxJSON, ":{{build_name}}", "")
	opts := LoadOptions{Env: []string{"BOX_WHO=ann"}}
	pj, diags := loadMapAt(t, map[string]string{"t/box.json": src}, "t/box.json", opts)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	out, _, diags := Upgrade([]byte(src), "t/box.json", testKinds())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, s := range []string{"{{user", "{{env", `"source.box.autogenerated_1"`, `"source.box.second"`, `["box.autogenerated_1"]`, `"box.second" = {`} {
		want := !strings.HasPrefix(s, "{{")
		if strings.Contains(string(out), s) != want {
			t.Errorf("upgrade contains %q: %v\n%s", s, !want, out)
		}
	}
	ph, diags := loadMapAt(t, map[string]string{"t/box.json.pkr.hcl": string(out)}, "t/box.json.pkr.hcl", opts)
	if diags.HasErrors() {
		t.Fatalf("%v\n%s", diags, out)
	}
	bj, bh := pj.Builds[0], ph.Builds[0]
	for i := range bj.Sources {
		if !reflect.DeepEqual(bj.Sources[i].Config, bh.Sources[i].Config) {
			t.Errorf("source %d: %+v, upgraded %+v", i, bj.Sources[i].Config, bh.Sources[i].Config)
		}
		for j := range bj.Provisioners {
			if bj.Provisioners[j].AppliesTo(bj.Sources[i]) != bh.Provisioners[j].AppliesTo(bh.Sources[i]) {
				t.Errorf("provisioner %d applies to source %d differently", j, i)
				continue
			}
			cj, _, dj := pj.DecodeProvisioner(bj.Provisioners[j], bj.Sources[i], BuildValues{})
			ch, _, dh := ph.DecodeProvisioner(bh.Provisioners[j], bh.Sources[i], BuildValues{})
			if dj.HasErrors() || dh.HasErrors() || !reflect.DeepEqual(cj, ch) {
				t.Errorf("provisioner %d on source %d: %+v, upgraded %+v (%v %v)", j, i, cj, ch, dj, dh)
			}
		}
	}
	if !reflect.DeepEqual(pj.SensitiveValues(), ph.SensitiveValues()) {
		t.Errorf("sensitive values %q, upgraded %q", pj.SensitiveValues(), ph.SensitiveValues())
	}
}
