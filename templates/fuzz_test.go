package templates_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/bake-tool/bake/internal/kinds"
	"github.com/bake-tool/bake/templates"
)

// The fuzz targets load whatever the fuzzer makes of the fixtures under
// testdata/ through an fstest.MapFS, with every real kind, and render
// the diagnostics. A load must never panic, and every diagnostic that
// points into a file is rendered with its file:line:col. Crashers the
// fuzzer finds are kept in testdata/fuzz/FuzzXxx and run by go test.

// fixtureFiles returns the contents of every file under ../testdata whose
// name ends in one of suffixes, so that each target is seeded from every
// fixture of its kind.
func fixtureFiles(f *testing.F, suffixes ...string) [][]byte {
	f.Helper()
	var out [][]byte
	err := filepath.WalkDir("../testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, s := range suffixes {
			if strings.HasSuffix(p, s) {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				out = append(out, b)
				break
			}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	if len(out) == 0 {
		f.Fatalf("no fixture ends in %v", suffixes)
	}
	return out
}

// fuzzLoad loads path from files with every kind, renders the
// diagnostics and checks what a user would: no panic, a Plan, every
// diagnostic about a file shown with its position.
func fuzzLoad(t *testing.T, files map[string][]byte, path string, varFiles ...string) {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: data}
	}
	plan, diags := templates.Load(path, templates.LoadOptions{
		Kinds:    kinds.All(),
		VarFiles: varFiles,
		Env:      []string{"PKR_VAR_from_env=env"},
		FS:       fsys,
		Now:      time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Version:  "0.1.0-fuzz",
		WorkDir:  "/fuzz",
	})
	if plan == nil {
		t.Fatal("Load returned no plan")
	}
	checkRendered(t, plan.Files, diags)
}

// checkRendered renders diags and checks that each one that points into
// a file is shown with its file:line:col.
func checkRendered(t *testing.T, files map[string]*hcl.File, diags hcl.Diagnostics) {
	var b strings.Builder
	if err := templates.WriteDiagnostics(&b, files, diags, true, 72, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, d := range diags {
		if r := d.Subject; r != nil {
			if want := fmt.Sprintf("on %s:%d:%d", r.Filename, r.Start.Line, r.Start.Column); !strings.Contains(out, want) {
				t.Errorf("the output lacks %q:\n%s", want, out)
			}
		}
	}
}

// FuzzLoadHCL loads one HCL template file.
func FuzzLoadHCL(f *testing.F) {
	for _, b := range fixtureFiles(f, ".pkr.hcl") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzLoad(t, map[string][]byte{"t.pkr.hcl": src}, "t.pkr.hcl")
	})
}

// FuzzLoadJSON loads one template file in the JSON form.
func FuzzLoadJSON(f *testing.F) {
	for _, b := range fixtureFiles(f, ".json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzLoad(t, map[string][]byte{"t.pkr.json": src}, "t.pkr.json")
	})
}

// FuzzLoadDir loads a directory of two HCL files, a JSON one and an auto
// var file, the way a template split over files is read.
func FuzzLoadDir(f *testing.F) {
	hcls := fixtureFiles(f, ".pkr.hcl")
	jsons := fixtureFiles(f, ".pkr.json")
	vars := fixtureFiles(f, ".pkrvars.hcl")
	multi := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("../testdata/templates/valid/multi", name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(multi("variables.pkr.hcl"), multi("build.pkr.hcl"), []byte("{}"), multi("multi.auto.pkrvars.hcl"))
	for i, b := range hcls {
		f.Add(b, hcls[(i+1)%len(hcls)], jsons[i%len(jsons)], vars[i%len(vars)])
	}
	f.Fuzz(func(t *testing.T, a, b, j, auto []byte) {
		fuzzLoad(t, map[string][]byte{
			"d/a.pkr.hcl":            a,
			"d/b.bake.hcl":           b,
			"d/c.pkr.json":           j,
			"d/x.auto.pkrvars.hcl":   auto,
			"d/ignored.txt":          a,
			"d/sub/nested.pkr.hcl":   b,
			"d/files/script.sh":      []byte("#!/bin/sh\necho ${name}\n"),
			"d/files/template.tpl":   b,
			"d/files/not-a-template": j,
		}, "d")
	})
}

// varFileTemplate declares variables of every type constraint a var file
// may have to convert to.
const varFileTemplate = `
variable "s" { type = string }
variable "n" { type = number }
variable "b" { type = bool }
variable "l" { type = list(string) }
variable "m" { type = map(number) }
variable "o" {
  type = object({ a = string, b = optional(number, 1), c = optional(list(bool)) })
}
variable "t" { type = tuple([string, number]) }
variable "any" { default = null }
variable "secret" {
  type      = string
  sensitive = true
}
variable "checked" {
  type = string
  validation {
    condition     = length(var.checked) > 2
    error_message = "The checked value must be longer than two characters."
  }
}
variable "from_env" { type = string }
source "null" "x" { communicator = "none" }
build {
  sources = ["source.null.x"]
  provisioner "shell-local" { inline = ["echo ${var.s} ${var.n} ${jsonencode(var.o)}"] }
}
`

// FuzzVarFile loads a var file in each form (HCL and JSON) against a
// template whose variables have every kind of type.
func FuzzVarFile(f *testing.F) {
	for _, b := range fixtureFiles(f, ".pkrvars.hcl") {
		f.Add(b, []byte(`{"s": "x", "n": 1}`))
	}
	f.Add([]byte(`s = "x"
n = 3
b = true
l = ["a", "b"]
m = { a = 1 }
o = { a = "x", c = [true] }
t = ["x", 2]
any = { k = [1, "2"] }
secret = "p'a\"s\\s"
checked = "long enough"
undeclared = 1
`), []byte(`{"s": "x", "o": {"a": "y", "b": 2}, "t": ["a", 1], "nope": true}`))
	f.Add([]byte("v ="), []byte("{"))
	f.Fuzz(func(t *testing.T, hclSrc, jsonSrc []byte) {
		fuzzLoad(t, map[string][]byte{
			"t.pkr.hcl":      []byte(varFileTemplate),
			"v.pkrvars.hcl":  hclSrc,
			"v.pkrvars.json": jsonSrc,
		}, "t.pkr.hcl", "v.pkrvars.hcl", "v.pkrvars.json")
	})
}

// FuzzWriteDiagnostics renders a diagnostic with any range over any
// source, and the parser's own diagnostics of that source: rendering
// never panics and always names the position.
func FuzzWriteDiagnostics(f *testing.F) {
	for _, b := range fixtureFiles(f, ".hcl") {
		f.Add(b, 2, 12, 26, 3, 1, 27)
	}
	f.Add([]byte("variable \"x\" {\n  default =\n}\n"), 2, 12, 26, 3, 1, 27)
	f.Add([]byte("locals { a = 1\n}\n"), 1, 15, 14, 2, 1, 15)
	f.Add([]byte("v ="), 1, 4, 3, 1, 4, 3)
	f.Add([]byte("\tb = \"é\" + x\r\n"), 1, 5, 5, 1, 8, 9)
	f.Fuzz(func(t *testing.T, src []byte, sl, sc, sb, el, ec, eb int) {
		p := hclparse.NewParser()
		_, diags := p.ParseHCL(src, "f.pkr.hcl")
		_, jdiags := p.ParseJSON(src, "f.pkr.json")
		r := hcl.Range{Filename: "f.pkr.hcl",
			Start: hcl.Pos{Line: sl, Column: sc, Byte: sb},
			End:   hcl.Pos{Line: el, Column: ec, Byte: eb}}
		diags = append(diags, jdiags...)
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Fuzzed range",
			Detail: "A range the fuzzer chose.", Subject: &r})
		checkRendered(t, p.Files(), diags)
	})
}
