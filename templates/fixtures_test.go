package templates_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/bake-tool/bake/builder/qemu"
	"github.com/bake-tool/bake/internal/kinds"
	"github.com/bake-tool/bake/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const fixtures = "../testdata/templates"

// fixtureOptions are the load options every fixture is loaded with; the
// multi fixture also gets a -var-file, a -var and the environment.
func fixtureOptions(name string) templates.LoadOptions {
	opts := templates.LoadOptions{
		Kinds:   kinds.All(),
		Now:     time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Version: "0.1.0-test",
		WorkDir: "/work",
	}
	if name == "multi" {
		opts.VarFiles = []string{filepath.Join(fixtures, "valid/multi/extra.pkrvars.hcl")}
		opts.Vars = []string{"from_cli=set on the command line"}
		opts.Env = []string{"PKR_VAR_from_env=from the environment"}
	}
	return opts
}

func TestValidFixtures(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(fixtures, "valid"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".pkr.hcl")
		t.Run(name, func(t *testing.T) {
			plan, diags := templates.Load(filepath.Join(fixtures, "valid", e.Name()), fixtureOptions(name))
			for _, d := range diags {
				t.Errorf("%s", d)
			}
			got, err := json.MarshalIndent(planJSON(plan), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join(fixtures, "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("plan differs from %s (go test ./templates -run TestValidFixtures -update rewrites it):\n%s", golden, lineDiff(string(want), string(got)))
			}
		})
	}
}

// expectation is one "# ERROR: summary | detail" comment in a fixture.
type expectation struct {
	file     string
	line     int
	severity string
	summary  string
	detail   string
}

var expectRE = regexp.MustCompile(`(ERROR|WARNING): ([^|#\n]+?)\s*(?:\|\s*([^#\n]+?))?\s*(?:#|$)`)

func readExpectations(t *testing.T, file string) []expectation {
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []expectation
	for i, line := range strings.Split(string(src), "\n") {
		_, comment, ok := strings.Cut(line, "# ")
		if !ok {
			continue
		}
		for _, m := range expectRE.FindAllStringSubmatch(comment, -1) {
			out = append(out, expectation{file: file, line: i + 1, severity: m[1], summary: m[2], detail: m[3]})
		}
	}
	return out
}

// TestInvalidFixtures loads each invalid template (with NAME.pkrvars.hcl
// beside it as a -var-file when there is one) and checks that it yields
// exactly the diagnostics its comments announce, each on its line.
func TestInvalidFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtures, "invalid", "*.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Errorf("only %d invalid fixtures", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".pkr.hcl")
		t.Run(name, func(t *testing.T) {
			opts := fixtureOptions(name)
			want := readExpectations(t, file)
			if vf := strings.TrimSuffix(file, ".pkr.hcl") + ".pkrvars.hcl"; fileExists(vf) {
				opts.VarFiles = []string{vf}
				want = append(want, readExpectations(t, vf)...)
			}
			if len(want) == 0 {
				t.Fatal("the fixture announces no diagnostic")
			}
			_, diags := templates.Load(file, opts)
			seen := make([]bool, len(diags))
			for _, w := range want {
				found := false
				for i, d := range diags {
					if seen[i] || d.Subject == nil || d.Subject.Filename != w.file || d.Subject.Start.Line != w.line ||
						d.Summary != w.summary || severity(d) != w.severity || !strings.Contains(d.Detail, w.detail) {
						continue
					}
					seen[i], found = true, true
					break
				}
				if !found {
					t.Errorf("%s:%d: no %s %q (%q) among:\n%s", filepath.Base(w.file), w.line, w.severity, w.summary, w.detail, listDiags(diags))
				}
			}
			for i, d := range diags {
				if !seen[i] && d.Severity == hcl.DiagError {
					t.Errorf("unexpected %s", d)
				}
			}
		})
	}
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

func severity(d *hcl.Diagnostic) string {
	if d.Severity == hcl.DiagWarning {
		return "WARNING"
	}
	return "ERROR"
}

func listDiags(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "  %s %s\n", severity(d), d)
	}
	return b.String()
}

// planJSON is the plan as the golden files hold it.
func planJSON(p *templates.Plan) any {
	line := func(r hcl.Range) string { return fmt.Sprintf("%s:%d", filepath.Base(r.Filename), r.Start.Line) }
	out := map[string]any{}
	var vars []any
	for _, v := range p.Variables {
		vars = append(vars, map[string]any{"name": v.Name, "type": typeexpr.TypeString(v.Type), "value": ctyValue(v.Value),
			"sensitive": v.Sensitive, "set_by": v.SetBy, "description": v.Description, "decl": line(v.DeclRange)})
	}
	out["variables"] = vars
	var locals []any
	for _, l := range p.Locals {
		locals = append(locals, map[string]any{"name": l.Name, "value": ctyValue(l.Value), "sensitive": l.Sensitive})
	}
	out["locals"] = locals
	var data []any
	for _, d := range p.DataSources {
		data = append(data, map[string]any{"type": d.Type, "name": d.Name, "config": jsonable(reflect.ValueOf(d.Config)), "value": ctyValue(d.Value)})
	}
	out["data"] = data
	var sources []any
	for _, s := range p.Sources {
		sources = append(sources, map[string]any{"name": s.FullName(), "decl": line(s.DeclRange)})
	}
	out["sources"] = sources
	var builds []any
	for _, b := range p.Builds {
		var bss []any
		for _, bs := range b.Sources {
			bss = append(bss, map[string]any{"type": bs.Type, "name": bs.Name, "alias": bs.Alias, "full_name": bs.FullName(),
				"decl": line(bs.DeclRange), "config": jsonable(reflect.ValueOf(bs.Config)), "unknown": unknown(bs.Body)})
		}
		prov := func(pv *templates.Provisioner) any {
			var names []string
			for _, bs := range b.Sources {
				if pv.AppliesTo(bs) {
					names = append(names, bs.FullName())
				}
			}
			return map[string]any{"type": pv.Type, "only": pv.Only, "except": pv.Except, "override": pv.Override,
				"pause_before": pv.PauseBefore.String(), "timeout": pv.Timeout.String(), "max_retries": pv.MaxRetries,
				"applies_to": names, "config": jsonable(reflect.ValueOf(pv.Config)), "unknown": unknown(pv.Body), "decl": line(pv.DeclRange)}
		}
		var provs []any
		for _, pv := range b.Provisioners {
			provs = append(provs, prov(pv))
		}
		var chains []any
		for _, chain := range b.PostProcessors {
			var c []any
			for _, pp := range chain {
				c = append(c, map[string]any{"type": pp.Type, "name": pp.Name, "only": pp.Only, "except": pp.Except,
					"keep_input_artifact": pp.KeepInputArtifact, "config": jsonable(reflect.ValueOf(pp.Config)), "decl": line(pp.DeclRange)})
			}
			chains = append(chains, c)
		}
		bj := map[string]any{"name": b.Name, "description": b.Description, "sources": bss, "provisioners": provs, "post_processors": chains}
		if b.ErrorCleanupProvisioner != nil {
			bj["error_cleanup_provisioner"] = prov(b.ErrorCleanupProvisioner)
		}
		builds = append(builds, bj)
	}
	out["builds"] = builds
	out["names"] = p.Names()
	return out
}

func unknown(b *templates.Body) []string {
	if b == nil {
		return nil
	}
	var out []string
	for k := range b.Unknown {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ctyValue(v cty.Value) any {
	if v == cty.NilVal {
		return nil
	}
	if !v.IsWhollyKnown() {
		return "<unknown>"
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return err.Error()
	}
	return json.RawMessage(b)
}

var (
	ctyValueType = reflect.TypeOf(cty.Value{})
	exprType     = reflect.TypeOf((*hcl.Expression)(nil)).Elem()
	durationType = reflect.TypeOf(time.Duration(0))
)

// jsonable turns a decoded config into plain JSON: fields under their
// hcl names, zero values left out.
func jsonable(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch {
	case v.Type() == ctyValueType:
		return ctyValue(v.Interface().(cty.Value))
	case v.Type() == exprType:
		if v.IsNil() {
			return nil
		}
		return "<expression>"
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return jsonable(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		fillStruct(m, v)
		return m
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		var out []any
		for i := 0; i < v.Len(); i++ {
			out = append(out, jsonable(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.Len() == 0 {
			return nil
		}
		m := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			m[fmt.Sprint(it.Key().Interface())] = jsonable(it.Value())
		}
		return m
	case reflect.Func, reflect.Chan:
		return nil
	}
	return v.Interface()
}

func fillStruct(m map[string]any, v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("hcl"), ",")
		if name == "" && f.Anonymous && f.Type.Kind() == reflect.Struct {
			fillStruct(m, v.Field(i))
			continue
		}
		if name == "" {
			name = f.Name
		}
		if v.Field(i).IsZero() {
			continue
		}
		if j := jsonable(v.Field(i)); j != nil {
			m[name] = j
		}
	}
}

// lineDiff shows the lines that differ, for a failing golden comparison.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, w, g)
			if b.Len() > 4000 {
				break
			}
		}
	}
	return b.String()
}

// TestDefaultsFollowSourceName: a kind's defaults that derive from the
// source's name (qemu's output_directory and vm_name) use the name the
// build gives it, so two sources never share an output directory.
func TestDefaultsFollowSourceName(t *testing.T) {
	src := `
source "qemu" "web" {
  iso_url      = "base.qcow2"
  iso_checksum = "none"
  disk_image   = true
  ssh_username = "root"
}
build {
  sources = ["source.qemu.web"]
  source "source.qemu.web" {
    name = "web2"
  }
}
`
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(src), 0o644)
	os.WriteFile(filepath.Join(dir, "base.qcow2"), nil, 0o644)
	plan, diags := templates.Load(filepath.Join(dir, "t.pkr.hcl"), templates.LoadOptions{Kinds: kinds.All(), WorkDir: dir})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := map[string]string{}
	for _, bs := range plan.BuildSources() {
		c := bs.Config.(*qemu.Config)
		got[bs.FullName()] = c.OutputDirectory + " " + c.VMName
	}
	if got["qemu.web"] != "output-web packer-web" || got["qemu.web2"] != "output-web2 packer-web2" {
		t.Fatalf("defaults %v", got)
	}
}
