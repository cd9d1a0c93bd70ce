package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/file"
	"github.com/bake-tool/bake/provisioners/shell"
	"github.com/bake-tool/bake/provisioners/shelllocal"
	"github.com/bake-tool/bake/templates"
)

func cacheKinds() (templates.Kinds, Registry) {
	k := templates.Kinds{
		Sources: map[string]templates.Kind{"docker": {New: func() templates.Config { return new(docker.Config) }}},
		Provisioners: map[string]templates.Kind{
			"shell":       {New: func() templates.Config { return new(shell.Config) }},
			"file":        {New: func() templates.Config { return new(file.Config) }},
			"shell-local": {New: func() templates.Config { return new(shelllocal.Config) }},
		},
		PostProcessors: map[string]templates.Kind{},
	}
	reg := Registry{Builders: map[string]BuilderFunc{"docker": docker.NewBuilder}, Provisioners: map[string]ProvisionerFunc{
		"shell": shell.NewProvisioner, "file": file.NewProvisioner, "shell-local": shelllocal.NewProvisioner,
	}}
	return k, reg
}

// cacheTemplate is the table's template: a script, an uploaded
// directory, an env var, and two inline steps; names and timing options
// that must not count are set from variables.
const cacheTemplate = `
variable "image_name" { default = "out" }
variable "secret" {
  default   = "s3cret"
  sensitive = true
}
source "docker" "t" {
  image      = "base:latest"
  pull       = false
  commit     = true
  privileged = PRIV
}
build {
  name    = "b-${var.image_name}"
  sources = ["source.docker.t"]
  provisioner "shell" {
    script       = "s.sh"
    pause_before = "PAUSE"
  }
  provisioner "file" {
    source      = "up/"
    destination = "/opt"
  }
  provisioner "shell" {
    environment_vars = ["A=ENV", "TOKEN=${var.secret}"]
    inline           = ["echo $A"]
    timeout          = "TIMEOUT"
  }
  provisioner "shell" {
    name   = "one"
    inline = ["echo 1 > /one"]
  }
  provisioner "shell" {
    name   = "two"
    inline = ["echo 2 > /two"]
  }
}
`

type cacheVariant struct {
	script, upload, env, imageID, priv, pause, timeout, imageName, secret string
	swap, noCacheOne, local                                               bool
}

func (v cacheVariant) keys(t *testing.T) []cache.StepKey {
	t.Helper()
	dir := t.TempDir()
	tpl := cacheTemplate
	if v.swap {
		i, j := strings.Index(tpl, `  provisioner "shell" {
    name   = "one"`), strings.Index(tpl, `  provisioner "shell" {
    name   = "two"`)
		end := strings.LastIndex(tpl, "}")
		tpl = tpl[:i] + tpl[j:end] + tpl[i:j] + tpl[end:]
	}
	if v.noCacheOne {
		tpl = strings.Replace(tpl, `name   = "one"`, "name   = \"one\"\n    cache  = false", 1)
	}
	if v.local {
		tpl = strings.Replace(tpl, `provisioner "shell" {
    name   = "one"`, `provisioner "shell-local" {
    name   = "one"`, 1)
	}
	r := strings.NewReplacer("PRIV", v.priv, "ENV", v.env, "PAUSE", v.pause, "TIMEOUT", v.timeout)
	for name, content := range map[string]string{
		"t.pkr.hcl":  r.Replace(tpl),
		"s.sh":       v.script,
		"up/a.txt":   v.upload,
		"up/sub/b":   "b",
		"extra.file": "not used",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir) // relative paths resolve against the working directory, as in bake build
	kinds, reg := cacheKinds()
	plan, diags := templates.Load(filepath.Join(dir, "t.pkr.hcl"), templates.LoadOptions{
		Kinds: kinds, WorkDir: dir,
		Vars: []string{"image_name=" + v.imageName, "secret=" + v.secret},
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	jobs, err := Jobs(plan, plan.BuildSources(), reg)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs: %v %v", jobs, err)
	}
	base, err := docker.BaseKey(plan.BuildSources()[0].Config.(*docker.Config), v.imageID)
	if err != nil {
		t.Fatal(err)
	}
	return StepKeys(jobs[0], base, provisioners.BuildInfo{Name: jobs[0].Name, Type: "docker"}, nil)
}

// TestCacheKeyOneByteChanges changes one input at a time and checks the
// first step whose key changes: every step before it keeps its key, it
// and every step after get new ones. Names, timing options and the order
// of unrelated things change nothing.
func TestCacheKeyOneByteChanges(t *testing.T) {
	cold := cacheVariant{script: "echo a\n", upload: "hello", env: "x", imageID: "sha256:" + strings.Repeat("a", 64),
		priv: "false", pause: "1s", timeout: "1m", imageName: "out", secret: "s3cret"}
	ref := cold.keys(t)
	if len(ref) != 5 {
		t.Fatalf("%d keys, want 5", len(ref))
	}
	for i, k := range ref {
		if !k.Key.Valid() {
			t.Fatalf("step %d (%s) has no key: %q", i, k.Label, k.Key)
		}
	}
	const none = -1
	tests := []struct {
		name  string
		edit  func(*cacheVariant)
		first int // first step that misses; none: all hit
	}{
		{"script file, one byte", func(v *cacheVariant) { v.script = "echo b\n" }, 0},
		{"uploaded file, one byte", func(v *cacheVariant) { v.upload = "hellO" }, 1},
		{"env var, one byte", func(v *cacheVariant) { v.env = "y" }, 2},
		{"sensitive env var, one byte", func(v *cacheVariant) { v.secret = "s3creT" }, 2},
		{"base re-tagged to a new digest", func(v *cacheVariant) { v.imageID = "sha256:" + strings.Repeat("b", 64) }, 0},
		{"builder option privileged", func(v *cacheVariant) { v.priv = "true" }, 0},
		{"order of the last two provisioners", func(v *cacheVariant) { v.swap = true }, 3},
		{"cache = false on step 3", func(v *cacheVariant) { v.noCacheOne = true }, 3},
		{"shell-local (not cacheable) at step 3", func(v *cacheVariant) { v.local = true }, 3},
		{"output name (build name from a variable)", func(v *cacheVariant) { v.imageName = "other" }, none},
		{"pause_before and timeout", func(v *cacheVariant) { v.pause, v.timeout = "2s", "2m" }, none},
		{"nothing", func(*cacheVariant) {}, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := cold
			tt.edit(&v)
			got := v.keys(t)
			first := none
			for i := range got {
				if got[i].Key != ref[i].Key {
					first = i
					break
				}
			}
			if first != tt.first {
				t.Fatalf("first step that misses: %d, want %d\nold %v\nnew %v", first, tt.first, ref, got)
			}
			if first == none {
				return
			}
			for i := first; i < len(got); i++ {
				if got[i].Key == ref[i].Key && got[i].Key != "" {
					t.Errorf("step %d (%s) kept its key after step %d changed", i, got[i].Label, first)
				}
			}
		})
	}
}

// TestCacheKeySecretNotInClear checks that a sensitive value reaches the
// key only hashed: the key input never holds it, so neither can the
// index, which holds only keys.
func TestCacheKeySecretNotInClear(t *testing.T) {
	h1, h2 := cache.NewHasher("x"), cache.NewHasher("x")
	h1.Secret("TOKEN", "s3cret")
	h2.String("TOKEN", "s3cret")
	k1, _ := h1.Sum()
	k2, _ := h2.Sum()
	if k1 == k2 {
		t.Fatal("Secret hashed the value in clear")
	}
}
