package templates

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

type tSource struct {
	Image string            `hcl:"image,required"`
	Tags  map[string]string `hcl:"tags"`
	Wait  time.Duration     `hcl:"wait"`
	Disk  Size              `hcl:"disk_size"`
}

func (c *tSource) Prepare(b *Body) hcl.Diagnostics { return nil }

type tProv struct {
	Inline []string `hcl:"inline"`
	Script string   `hcl:"script"`
}

func (c *tProv) Prepare(b *Body) hcl.Diagnostics { return b.ExactlyOne(nil, "inline", "script") }

type tData struct {
	Filter string `hcl:"filter"`
}

func (c *tData) Prepare(b *Body) hcl.Diagnostics { return nil }

func testKinds() Kinds {
	return Kinds{
		Sources: map[string]Kind{
			"box":     {New: func() Config { return &tSource{} }, Tests: true},
			"nullbox": {New: func() Config { return &tSource{} }},
		},
		Provisioners:   map[string]Kind{"shell": {New: func() Config { return &tProv{} }}},
		PostProcessors: map[string]Kind{"stamp": {New: func() Config { return &tProv{} }}},
		DataSources: map[string]DataKind{"lookup": {
			Kind: Kind{New: func() Config { return &tData{} }},
			Type: cty.Object(map[string]cty.Type{"id": cty.String}),
			Execute: func(_ context.Context, cfg Config) (cty.Value, error) {
				return cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal("id-" + cfg.(*tData).Filter)}), nil
			},
		}},
	}
}

func loadMap(t *testing.T, files map[string]string, opts LoadOptions) (*Plan, hcl.Diagnostics) {
	t.Helper()
	return loadMapAt(t, files, "t", opts)
}

// loadMapAt is loadMap loading the template at path (a file or a
// directory) in files.
func loadMapAt(t *testing.T, files map[string]string, path string, opts LoadOptions) (*Plan, hcl.Diagnostics) {
	t.Helper()
	fsys := fstest.MapFS{}
	for n, s := range files {
		fsys[n] = &fstest.MapFile{Data: []byte(s)}
	}
	opts.FS = fsys
	opts.Kinds = testKinds()
	opts.Now = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	opts.Version = "1.2.3"
	return Load(path, opts)
}

const testTemplate = `
variable "image" {
  type    = string
  default = "debian"
}
variable "from_env" {
  type = number
}
variable "from_auto" {
  type    = string
  default = "x"
}
variable "from_file" {
  type = list(string)
}
variable "from_cli" {
  type = object({ a = string, b = optional(number, 7) })
}
variable "password" {
  type      = string
  sensitive = true
}
locals {
  tag  = "${local.base}-${var.image}"
  base = upper(var.from_auto)
}
local "secret" {
  expression = "s3cr3t-${var.image}"
  sensitive  = true
}
data "lookup" "ami" {
  filter = local.base
}
source "box" "one" {
  image = data.lookup.ami.id
  tags  = { name = source.name, tag = local.tag }
}
build {
  name    = "b"
  sources = ["source.box.one"]
  source "box.one" {
    name  = "two"
    image = "override"
  }
  provisioner "shell" {
    inline = ["echo ${build.Host}:${build.Port} ${source.name}"]
    only   = ["box.two"]
  }
  provisioner "shell" {
    inline       = ["default"]
    pause_before = "5s"
    timeout      = "1m"
    max_retries  = 2
    override = {
      "box.two" = { inline = ["for two"] }
    }
  }
  dynamic "provisioner" {
    for_each = ["a", "b"]
    labels   = ["shell"]
    content {
      inline = ["echo ${provisioner.value}"]
    }
  }
  post-processor "stamp" {
    script = "x"
  }
  post-processors {
    post-processor "stamp" {
      script = "y"
      except = ["box.one"]
    }
    post-processor "stamp" {
      name                = "z"
      script              = "z"
      keep_input_artifact = true
    }
  }
}
`

func TestLoad(t *testing.T) {
	plan, diags := loadMap(t, map[string]string{
		"t/a.pkr.hcl":             testTemplate,
		"t/v.auto.pkrvars.hcl":    `from_auto = "auto"`,
		"t/other.hcl":             `not = "read"`,
		"vars/f.pkrvars.hcl":      "from_file = [\"f\"]\nfrom_auto = \"file wins\"\n",
		"vars/undeclared.pkrvars": "nope = 1\n",
	}, LoadOptions{
		Env:         []string{"PKR_VAR_from_env=3", "BAKE_VAR_password=hunter2", "PKR_VAR_password=lost"},
		VarFiles:    []string{"vars/f.pkrvars.hcl", "vars/undeclared.pkrvars"},
		Vars:        []string{"from_cli={a=\"x\"}", "image=ubuntu"},
		ExecuteData: true,
	})
	var errs, warns []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d.Error())
		} else {
			warns = append(warns, d.Error())
		}
	}
	if len(errs) > 0 {
		t.Fatal(strings.Join(errs, "\n"))
	}
	if len(warns) != 1 || !strings.Contains(warns[0], `"nope"`) || !strings.Contains(warns[0], "undeclared.pkrvars") {
		t.Errorf("warnings: %q", warns)
	}
	vals := map[string]string{}
	for _, v := range plan.Variables {
		vals[v.Name] = v.SetBy
	}
	want := map[string]string{"image": "-var image", "from_env": "the environment variable PKR_VAR_from_env",
		"from_auto": "-var-file vars/f.pkrvars.hcl", "from_file": "-var-file vars/f.pkrvars.hcl", "from_cli": "-var from_cli",
		"password": "the environment variable BAKE_VAR_password"}
	for k, v := range want {
		if vals[k] != v {
			t.Errorf("var %s set by %q, want %q", k, vals[k], v)
		}
	}
	if got := plan.Variables[4].Value.GetAttr("b"); !got.RawEquals(cty.NumberIntVal(7)) {
		t.Errorf("optional default: %#v", got)
	}
	if got := strings.Join(plan.SensitiveValues(), ","); got != "s3cr3t-ubuntu,hunter2" {
		t.Errorf("sensitive values %q", got)
	}
	if plan.Locals[0].Name != "base" || plan.Locals[1].Value.AsString() != "FILE WINS-ubuntu" {
		t.Errorf("locals %#v", plan.Locals)
	}
	b := plan.Builds[0]
	if len(b.Sources) != 2 {
		t.Fatalf("sources %d", len(b.Sources))
	}
	one, two := b.Sources[0], b.Sources[1]
	if c := one.Config.(*tSource); c.Image != "id-FILE WINS" || c.Tags["name"] != "one" {
		t.Errorf("one: %+v", c)
	}
	if c := two.Config.(*tSource); c.Image != "override" || c.Tags["name"] != "two" || two.FullName() != "box.two" {
		t.Errorf("two: %+v", c)
	}
	if got := strings.Join(plan.Names(), ","); got != "b.box.one,b.box.two" {
		t.Errorf("names %s", got)
	}
	if len(b.Provisioners) != 4 || len(b.ProvisionersFor(one)) != 3 || len(b.ProvisionersFor(two)) != 4 {
		t.Fatalf("provisioners %d", len(b.Provisioners))
	}
	p0 := b.Provisioners[0]
	if !p0.Body.IsUnknown("inline") {
		t.Errorf("inline should be unknown at load")
	}
	cfg, _, d := plan.DecodeProvisioner(p0, two, BuildValues{Host: "10.0.0.1", Port: 22})
	if d.HasErrors() || cfg.(*tProv).Inline[0] != "echo 10.0.0.1:22 two" {
		t.Errorf("decode: %v %+v", d, cfg)
	}
	p1 := b.Provisioners[1]
	if p1.PauseBefore != 5*time.Second || p1.Timeout != time.Minute || p1.MaxRetries != 2 {
		t.Errorf("meta %+v", p1)
	}
	cfg, _, _ = plan.DecodeProvisioner(p1, two, BuildValues{})
	if cfg.(*tProv).Inline[0] != "for two" {
		t.Errorf("override: %+v", cfg)
	}
	cfg, _, _ = plan.DecodeProvisioner(p1, one, BuildValues{})
	if cfg.(*tProv).Inline[0] != "default" {
		t.Errorf("no override: %+v", cfg)
	}
	if got := b.Provisioners[3].Config.(*tProv).Inline[0]; got != "echo b" {
		t.Errorf("dynamic: %q", got)
	}
	if len(b.PostProcessors) != 2 || len(b.PostProcessors[1]) != 2 || b.PostProcessors[1][1].Name != "z" ||
		!*b.PostProcessors[1][1].KeepInputArtifact {
		t.Errorf("post-processors %+v", b.PostProcessors)
	}
	if pp := b.PostProcessorsFor(one); len(pp) != 2 || len(pp[1]) != 1 {
		t.Errorf("post-processors for one: %+v", pp)
	}
	sel, d := plan.Select([]string{"box.t*"}, nil)
	if d.HasErrors() || len(sel) != 1 || sel[0] != two {
		t.Errorf("select: %v %v", sel, d)
	}
	_, d = plan.Select([]string{"nothing.*"}, nil)
	if !d.HasErrors() || !strings.Contains(d[0].Detail, "b.box.one, b.box.two") {
		t.Errorf("select nothing: %v", d)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
		line            int
	}{
		{"cycle", "locals {\n a = local.b\n b = local.a\n}\n", "Circular reference", 3},
		{"undefined local", "locals {\n a = local.nope\n}\n", "Undefined local", 2},
		{"undefined var", "locals {\n a = var.imag\n}\nvariable \"image\" {\n default = \"\"\n}\n", `Did you mean "image"?`, 2},
		{"unknown source", "build {\n sources = [\"source.box.x\"]\n}\n", "Unknown source", 2},
		{"override", "source \"box\" \"a\" {\n image = \"x\"\n}\nbuild {\n sources = [\"box.a\"]\n provisioner \"shell\" {\n  inline = [\"x\"]\n  override = {\n   \"box.b\" = { inline = [\"y\"] }\n  }\n }\n}\n", "Unknown build source", 9},
		{"override attr", "source \"box\" \"a\" {\n image = \"x\"\n}\nbuild {\n sources = [\"box.a\"]\n provisioner \"shell\" {\n  inline = [\"x\"]\n  override = {\n   \"box.a\" = { inlin = [\"y\"] }\n  }\n }\n}\n", `Did you mean "inline"?`, 9},
		{"validation", "variable \"x\" {\n default = \"a\"\n validation {\n  condition = length(var.x) > 3\n  error_message = \"Too short.\"\n }\n}\n", "Too short.", 2},
		{"data cycle", "data \"lookup\" \"a\" {\n filter = local.x\n}\nlocals {\n x = data.lookup.a.id\n}\n", "Circular reference", 2},
		{"version", "packer {\n required_version = \">= 9.0\"\n}\n", "Unsupported version", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := loadMap(t, map[string]string{"t/a.pkr.hcl": tc.src}, LoadOptions{})
			for _, d := range diags {
				if strings.Contains(d.Summary+": "+d.Detail, tc.want) {
					if d.Subject == nil || d.Subject.Start.Line != tc.line {
						t.Errorf("%q at %v, want line %d", tc.want, d.Subject, tc.line)
					}
					return
				}
			}
			t.Errorf("no %q in %v", tc.want, diags)
		})
	}
}

func TestFunctions(t *testing.T) {
	fsys := fstest.MapFS{
		"dir/a.txt":      {Data: []byte("hello")},
		"dir/sub/b.txt":  {Data: []byte("b")},
		"dir/t.tpl":      {Data: []byte("Hi ${name}!")},
		"dir/sub/c.json": {Data: []byte("{}")},
	}
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	fns := functions(fileSystem{fsys}, "", "", now, []string{"HOME=/home/u", "X=y"})
	cases := map[string]string{
		"abs(-1)":                                     `1`,
		"ceil(1.2)":                                   `2`,
		"floor(1.8)":                                  `1`,
		"log(8, 2)":                                   `3`,
		"max(1, 3)":                                   `3`,
		"min(1, 3)":                                   `1`,
		"parseint(\"ff\", 16)":                        `255`,
		"pow(2, 3)":                                   `8`,
		"signum(-3)":                                  `-1`,
		"sum([1, 2])":                                 `3`,
		"chomp(\"a\\n\")":                             `"a"`,
		"format(\"%s-%d\", \"a\", 1)":                 `"a-1"`,
		"formatlist(\"%s!\", [\"a\"])":                `["a!"]`,
		"indent(2, \"a\\nb\")":                        `"a\n  b"`,
		"join(\",\", [\"a\", \"b\"])":                 `"a,b"`,
		"lower(\"A\")":                                `"a"`,
		"regex_replace(\"abc\", \"b\", \"x\")":        `"axc"`,
		"regexall(\"a\", \"aa\")":                     `["a","a"]`,
		"regex(\"[0-9]+\", \"v12\")":                  `"12"`,
		"replace(\"abc\", \"b\", \"x\")":              `"axc"`,
		"split(\",\", \"a,b\")":                       `["a","b"]`,
		"strrev(\"ab\")":                              `"ba"`,
		"substr(\"abc\", 1, 1)":                       `"b"`,
		"title(\"ab\")":                               `"Ab"`,
		"trim(\"xax\", \"x\")":                        `"a"`,
		"trimprefix(\"ab\", \"a\")":                   `"b"`,
		"trimsuffix(\"ab\", \"b\")":                   `"a"`,
		"trimspace(\" a \")":                          `"a"`,
		"upper(\"a\")":                                `"A"`,
		"startswith(\"ab\", \"a\")":                   `true`,
		"endswith(\"ab\", \"a\")":                     `false`,
		"strcontains(\"abc\", \"b\")":                 `true`,
		"alltrue([true, false])":                      `false`,
		"anytrue([true, false])":                      `true`,
		"chunklist([1, 2, 3], 2)":                     `[[1,2],[3]]`,
		"coalesce(null, \"a\")":                       `"a"`,
		"coalescelist([], [1])":                       `[1]`,
		"compact([\"a\", \"\"])":                      `["a"]`,
		"concat([1], [2])":                            `[1,2]`,
		"contains([1], 1)":                            `true`,
		"distinct([1, 1])":                            `[1]`,
		"element([1, 2], 1)":                          `2`,
		"flatten([[1], [2]])":                         `[1,2]`,
		"index([\"a\", \"b\"], \"b\")":                `1`,
		"keys({a = 1})":                               `["a"]`,
		"length(\"abc\")":                             `3`,
		"lookup({a = 1}, \"b\", 2)":                   `2`,
		"merge({a = 1}, {b = 2})":                     `{"a":1,"b":2}`,
		"one([1])":                                    `1`,
		"range(3)":                                    `[0,1,2]`,
		"reverse([1, 2])":                             `[2,1]`,
		"setintersection([1, 2], [2])":                `[2]`,
		"setproduct([1], [2])":                        `[[1,2]]`,
		"setsubtract([1, 2], [2])":                    `[1]`,
		"setunion([1], [2])":                          `[1,2]`,
		"slice([1, 2, 3], 1, 2)":                      `[2]`,
		"sort([\"b\", \"a\"])":                        `["a","b"]`,
		"transpose({a = [\"x\"]})":                    `{"x":["a"]}`,
		"values({a = 1})":                             `[1]`,
		"zipmap([\"a\"], [1])":                        `{"a":1}`,
		"base64decode(\"aGk=\")":                      `"hi"`,
		"base64encode(\"hi\")":                        `"aGk="`,
		"length(base64gzip(\"hi\")) > 0":              `true`,
		"csvdecode(\"a\\n1\\n\")":                     `[{"a":"1"}]`,
		"jsondecode(\"[1]\")":                         `[1]`,
		"jsonencode({a = 1})":                         `"{\"a\":1}"`,
		"urlencode(\"a b\")":                          `"a+b"`,
		"yamldecode(\"a: 1\")":                        `{"a":1}`,
		"yamlencode({a = 1})":                         `"\"a\": 1\n"`,
		"abspath(\"/a/../b\")":                        `"/b"`,
		"basename(\"/a/b\")":                          `"b"`,
		"dirname(\"/a/b\")":                           `"/a"`,
		"file(\"dir/a.txt\")":                         `"hello"`,
		"filebase64(\"dir/a.txt\")":                   `"aGVsbG8="`,
		"fileexists(\"dir/nope\")":                    `false`,
		"fileset(\"dir\", \"**/*.txt\")":              `["a.txt","sub/b.txt"]`,
		"pathexpand(\"~/x\")":                         `"/home/u/x"`,
		"env(\"X\")":                                  `"y"`,
		"templatefile(\"dir/t.tpl\", {name = \"b\"})": `"Hi b!"`,
		"formatdate(\"YYYY\", timestamp())":           `"2024"`,
		"timeadd(timestamp(), \"1h\")":                `"2024-01-02T04:04:05Z"`,
		"timestamp()":                                 `"2024-01-02T03:04:05Z"`,
		"legacy_isotime(\"2006\")":                    `"2024"`,
		"md5(\"a\")":                                  `"0cc175b9c0f1b6a831c399e269772661"`,
		"sha1(\"a\")":                                 `"86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"`,
		"sha256(\"a\")":                               `"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"`,
		"length(sha512(\"a\"))":                       `128`,
		"base64sha256(\"a\")":                         `"ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs="`,
		"length(base64sha512(\"a\"))":                 `88`,
		"substr(bcrypt(\"a\", 4), 0, 4)":              `"$2a$"`,
		"can(rsadecrypt(\"x\", \"y\"))":               `false`,
		"length(uuidv4())":                            `36`,
		"uuidv5(\"dns\", \"example.com\")":            `"cfbff0d1-9375-5685-968c-48ce8b15ae17"`,
		"cidrhost(\"10.0.0.0/8\", 5)":                 `"10.0.0.5"`,
		"cidrhost(\"10.0.0.0/24\", -1)":               `"10.0.0.255"`,
		"cidrnetmask(\"10.0.0.0/12\")":                `"255.240.0.0"`,
		"cidrsubnet(\"10.1.0.0/16\", 8, 2)":           `"10.1.2.0/24"`,
		"cidrsubnets(\"10.1.0.0/16\", 4, 4, 8)":       `["10.1.0.0/20","10.1.16.0/20","10.1.32.0/24"]`,
		"can(var.nope)":                               `false`,
		"try(var.nope, 1)":                            `1`,
		"convert(1, string)":                          `"1"`,
		"tobool(\"true\")":                            `true`,
		"tonumber(\"1\")":                             `1`,
		"tostring(1)":                                 `"1"`,
		"tolist([1])":                                 `[1]`,
		"toset([1])":                                  `[1]`,
		"tomap({a = 1})":                              `{"a":1}`,
	}
	called := map[string]bool{}
	for src, want := range cases {
		expr, diags := parseExpr(src)
		if diags.HasErrors() {
			t.Errorf("%s: %v", src, diags)
			continue
		}
		for _, fc := range calls(expr) {
			called[fc] = true
		}
		v, diags := expr.Value(&hcl.EvalContext{Functions: fns, Variables: map[string]cty.Value{"var": cty.EmptyObjectVal}})
		if diags.HasErrors() {
			t.Errorf("%s: %v", src, diags)
			continue
		}
		if got := jsonOf(t, v); got != want {
			t.Errorf("%s = %s, want %s", src, got, want)
		}
	}
	for name := range fns {
		if !called[name] {
			t.Errorf("function %s is not tested", name)
		}
	}
}

func parseExpr(src string) (hclsyntax.Expression, hcl.Diagnostics) {
	return hclsyntax.ParseExpression([]byte(src), "t", hcl.InitialPos)
}

// calls lists the functions an expression calls.
func calls(expr hclsyntax.Expression) []string {
	var names []string
	_ = hclsyntax.VisitAll(expr, func(n hclsyntax.Node) hcl.Diagnostics {
		if fc, ok := n.(*hclsyntax.FunctionCallExpr); ok {
			names = append(names, fc.Name)
		}
		return nil
	})
	return names
}

func jsonOf(t *testing.T, v cty.Value) string {
	t.Helper()
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadJSON(t *testing.T) {
	plan, diags := loadMap(t, map[string]string{
		"t/a.pkr.json": `{
  "variable": {"image": {"default": "debian"}},
  "source": {"box": {"one": {"image": "${var.image}"}}},
  "build": [{
    "sources": ["source.box.one"],
    "provisioner": [{"shell": {"inline": ["echo ${source.name}"], "name": "hello"}}]
  }]
}`,
	}, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	bs := plan.Builds[0].Sources[0]
	if bs.Config.(*tSource).Image != "debian" {
		t.Errorf("image %+v", bs.Config)
	}
	p := plan.Builds[0].Provisioners[0]
	cfg, _, d := plan.DecodeProvisioner(p, bs, BuildValues{})
	if d.HasErrors() || cfg.(*tProv).Inline[0] != "echo one" || p.Name != "hello" {
		t.Errorf("provisioner %+v %v %q", cfg, d, p.Name)
	}
}
