package templates

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

type testComm struct {
	User string `hcl:"ssh_username"`
}

type testDevice struct {
	Name string `hcl:"device_name,required"`
	Size int    `hcl:"volume_size"`
}

type testConfig struct {
	testComm
	Image   string            `hcl:"image,required"`
	Commit  *bool             `hcl:"commit"`
	Changes []string          `hcl:"changes"`
	Labels  map[string]string `hcl:"labels"`
	Wait    time.Duration     `hcl:"wait"`
	Disk    Size              `hcl:"disk_size"`
	Args    [][]string        `hcl:"qemuargs"`
	Devices []testDevice      `hcl:"device,block"`
}

func decodeString(t *testing.T, src string) (*testConfig, *Body, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var c testConfig
	b, diags := Decode(f.Body, nil, "test", hcl.Range{}, &c)
	return &c, b, diags
}

func TestDecode(t *testing.T) {
	c, b, diags := decodeString(t, `
image = "debian"
commit = true
ssh_username = "root"
changes = ["CMD x"]
labels = { a = "b" }
wait = "1m30s"
disk_size = "2G"
qemuargs = [["-m", "512"]]
device {
  device_name = "/dev/sda"
  volume_size = 8
}
`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if c.Image != "debian" || c.Commit == nil || !*c.Commit || c.User != "root" || c.Changes[0] != "CMD x" ||
		c.Labels["a"] != "b" || c.Wait != 90*time.Second || c.Disk != 2<<30 || c.Args[0][1] != "512" ||
		len(c.Devices) != 1 || c.Devices[0].Size != 8 {
		t.Fatalf("decoded %+v", c)
	}
	if !b.Has("wait") || b.Range("wait").Start.Line != 7 {
		t.Fatalf("range of wait: %v", b.Range("wait"))
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		src, want string
		line      int
	}{
		{"image = \"x\"\ncomit = true\n", `Did you mean "commit"?`, 2},
		{"commit = true\n", `needs the option "image"`, 0},
		{"image = \"x\"\nwait = \"5 minutes\"\n", "not a duration", 2},
		{"image = \"x\"\ndisk_size = \"ten\"\n", "not a size", 2},
		{"image = \"x\"\nchanges = 3\n", "list of string required", 2},
		{"image = \"x\"\ndevice {\n}\n", `needs the option "device_name"`, 2},
	} {
		_, _, diags := decodeString(t, tc.src)
		if !diags.HasErrors() {
			t.Errorf("%q: no error", tc.src)
			continue
		}
		got := diags[0].Summary + ": " + diags[0].Detail
		if !strings.Contains(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.src, got, tc.want)
		}
		if tc.line != 0 && diags[0].Subject.Start.Line != tc.line {
			t.Errorf("%q: line %d, want %d", tc.src, diags[0].Subject.Start.Line, tc.line)
		}
	}
}

func TestBodyPrepareHelpers(t *testing.T) {
	f, diags := hclsyntax.ParseConfig([]byte("image = \"x\"\nchanges = [\n  \"CMD a\",\n  \"BAD b\",\n]\nlabels = {\n  a = \"1\"\n  \"b-c\" = \"2\"\n}\nwait = build.x\n"), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var c testConfig
	ectx := &hcl.EvalContext{Variables: map[string]cty.Value{"build": cty.DynamicVal}}
	b, diags := Decode(f.Body, ectx, "test", hcl.Range{}, &c)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if !b.Known("image") || b.Known("wait") || !b.Has("wait") || b.Known("commit") {
		t.Errorf("Known: image %v wait %v commit %v", b.Known("image"), b.Known("wait"), b.Known("commit"))
	}
	if l := b.ElementRange("changes", 1).Start.Line; l != 4 {
		t.Errorf("ElementRange(changes, 1) at line %d, want 4", l)
	}
	if l := b.ElementRange("changes", 9).Start.Line; l != 2 {
		t.Errorf("ElementRange out of range at line %d, want the attribute's 2", l)
	}
	if l := b.KeyRange("labels", "b-c").Start.Line; l != 8 {
		t.Errorf("KeyRange(labels, b-c) at line %d, want 8", l)
	}
	if l := b.KeyRange("labels", "a").Start.Line; l != 7 {
		t.Errorf("KeyRange(labels, a) at line %d, want 7", l)
	}
	if d := b.CheckTextTemplate(nil, "image", "{{.X"); len(d) != 1 || d[0].Subject.Start.Line != 1 {
		t.Errorf("CheckTextTemplate: %v", d)
	}
	var bad testConfig
	fb, _ := hclsyntax.ParseConfig([]byte("image = \"x\"\nwait = \"soon\"\n"), "t.hcl", hcl.InitialPos)
	bb, diags := Decode(fb.Body, nil, "test", hcl.Range{}, &bad)
	if !diags.HasErrors() || bb.Known("wait") || !bb.Has("wait") {
		t.Errorf("an attribute that failed to decode must be written but not Known: %v", diags)
	}
	if err := CheckReadable("decode.go", false); err != nil {
		t.Error(err)
	}
	if err := CheckReadable(".", false); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory as file: %v", err)
	}
	if err := CheckReadable("no-such-file", true); err == nil || !strings.Contains(err.Error(), `there is no file "no-such-file"`) {
		t.Errorf("missing file: %v", err)
	}
	if ExpandHome("/abs") != "/abs" || strings.HasPrefix(ExpandHome("~/x"), "~") {
		t.Errorf("ExpandHome: %q", ExpandHome("~/x"))
	}
}
