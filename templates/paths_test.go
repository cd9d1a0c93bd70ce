package templates

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// pathsTemplate reads x.txt (and its neighbours) with every file function
// through a relative path: Packer resolves each against the template's
// directory, whatever the working directory holds.
const pathsTemplate = `
locals {
  file     = file("x.txt")
  b64      = filebase64("x.txt")
  exists   = fileexists("only-in-t.txt")
  set      = join(",", fileset(".", "*.txt"))
  tmpl     = templatefile("x.tpl", { who = "t" })
  nested   = file("sub/y.txt")
  parent   = file("../x.txt")
}
`

func localValues(t *testing.T, p *Plan) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, l := range p.Locals {
		v := l.Value
		switch {
		case v.Type().FriendlyName() == "bool":
			got[l.Name] = map[bool]string{true: "true", false: "false"}[v.True()]
		default:
			got[l.Name] = v.AsString()
		}
	}
	return got
}

var pathsWant = map[string]string{
	"file":   "in t",
	"b64":    "aW4gdA==",
	"exists": "true",
	"set":    "only-in-t.txt,x.txt",
	"tmpl":   "rendered by t",
	"nested": "y in t/sub",
	"parent": "in cwd",
}

func TestFileFunctionsResolveAgainstTemplateDir(t *testing.T) {
	files := map[string]string{
		"x.txt":           "in cwd",
		"x.tpl":           "wrong ${who}",
		"t/a.pkr.hcl":     pathsTemplate,
		"t/x.txt":         "in t",
		"t/only-in-t.txt": "",
		"t/x.tpl":         "rendered by ${who}",
		"t/sub/y.txt":     "y in t/sub",
	}
	check := func(t *testing.T, p *Plan) {
		t.Helper()
		got := localValues(t, p)
		for k, want := range pathsWant {
			if got[k] != want {
				t.Errorf("local.%s = %q, want %q", k, got[k], want)
			}
		}
	}

	t.Run("fs", func(t *testing.T) {
		fsys := fstest.MapFS{}
		for n, s := range files {
			fsys[n] = &fstest.MapFile{Data: []byte(s)}
		}
		p, diags := Load("t", LoadOptions{FS: fsys, Kinds: testKinds()})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		check(t, p)
	})

	// The same on the real file system, run the way a user runs
	// "bake validate t/" (and "bake validate t/a.pkr.hcl") from the parent.
	for _, arg := range []string{"t", "t/a.pkr.hcl", "./t/"} {
		t.Run("os "+arg, func(t *testing.T) {
			dir := t.TempDir()
			for n, s := range files {
				if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(n)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)
			p, diags := Load(arg, LoadOptions{Kinds: testKinds()})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			check(t, p)
		})
	}
}

// Var files given with -var-file are read from the working directory, and
// auto var files from the template's directory, as Packer reads them.
func TestVarFilesResolveAsPackerDoes(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"t/a.pkr.hcl":          "variable \"v\" {}\nvariable \"auto\" {}\n",
		"t/a.auto.pkrvars.hcl": `auto = "t"`,
		"a.auto.pkrvars.hcl":   `auto = "cwd"`,
		"v.pkrvars.hcl":        `v = "cwd"`,
		"t/v.pkrvars.hcl":      `v = "t"`,
	}
	for n, s := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	p, diags := Load("t", LoadOptions{Kinds: testKinds(), VarFiles: []string{"v.pkrvars.hcl"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, v := range p.Variables {
		want := map[string]string{"v": "cwd", "auto": "t"}[v.Name]
		if got := v.Value.AsString(); got != want {
			t.Errorf("var.%s = %q, want %q", v.Name, got, want)
		}
	}
}

// A path starting with ~/ is in the home directory, as Packer's file
// functions read it.
func TestFileFunctionsExpandHome(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "key.pub"), []byte("ssh-ed25519 AAAA"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "t"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t", "a.pkr.hcl"), []byte(`locals { k = file("~/key.pub") }`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	p, diags := Load("t", LoadOptions{Kinds: testKinds(), Env: []string{"HOME=" + home}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := localValues(t, p)["k"]; got != "ssh-ed25519 AAAA" {
		t.Errorf(`file("~/key.pub") = %q`, got)
	}
}

// abspath is the one path function Packer bases at the working directory.
func TestAbspathIsRelativeToWorkDir(t *testing.T) {
	p, diags := loadMap(t, map[string]string{"t/a.pkr.hcl": `locals { a = abspath("x.txt") }`},
		LoadOptions{WorkDir: "/work/dir"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := localValues(t, p)["a"]; got != "/work/dir/x.txt" {
		t.Errorf("abspath = %q, want /work/dir/x.txt", got)
	}
}
