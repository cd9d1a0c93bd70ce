package templates

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTestBlocks: test blocks load like provisioners (only/except, name,
// timeout), each with a warning that they are a bake extension, and
// TestsFor applies only/except per source.
func TestTestBlocks(t *testing.T) {
	src := `source "box" "one" {
  image = "x"
}
source "box" "two" {
  image = "y"
}
build {
  sources = ["source.box.one", "source.box.two"]
  provisioner "shell" {
    inline = ["echo build"]
  }
  test "shell" {
    name    = "smoke"
    timeout = "30s"
    inline  = ["test -f /etc/os-release"]
  }
  test "shell" {
    only   = ["box.two"]
    inline = ["false"]
  }
}
`
	p, diags := loadMap(t, map[string]string{"t/a.pkr.hcl": src}, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("refused: %v", diags)
	}
	var warnLines []int
	for _, d := range diags {
		if d.Summary == "test blocks are a bake extension" {
			warnLines = append(warnLines, d.Subject.Start.Line)
		}
	}
	if len(warnLines) != 2 || warnLines[0] != 12 || warnLines[1] != 17 {
		t.Errorf("want an extension warning at lines 12 and 17, got %v", diags)
	}
	b := p.Builds[0]
	if len(b.Provisioners) != 1 || len(b.Tests) != 2 {
		t.Fatalf("provisioners %d, tests %d; want 1 and 2", len(b.Provisioners), len(b.Tests))
	}
	if tt := b.Tests[0]; tt.Name != "smoke" || tt.Timeout != 30*time.Second || tt.Type != "shell" {
		t.Errorf("first test %+v", tt)
	}
	if n := len(b.TestsFor(b.Sources[0])); n != 1 {
		t.Errorf("box.one has %d tests, want 1 (the second is only for box.two)", n)
	}
	if n := len(b.TestsFor(b.Sources[1])); n != 2 {
		t.Errorf("box.two has %d tests, want 2", n)
	}

	// A test that would run on a source whose builder cannot start a
	// machine from its artifact is refused at the test block; limited
	// away from it with only, it loads.
	twoKinds := "source \"box\" \"one\" {\n  image = \"x\"\n}\nsource \"nullbox\" \"n\" {\n  image = \"x\"\n}\nbuild {\n  sources = [\"source.box.one\", \"source.nullbox.n\"]\n  test \"shell\" {\n    inline = [\"true\"]\n    %s\n  }\n}\n"
	_, diags = loadMap(t, map[string]string{"t/a.pkr.hcl": fmt.Sprintf(twoKinds, "")}, LoadOptions{})
	if d := firstError(diags); d == nil || d.Subject.Start.Line != 9 || !strings.Contains(d.Detail, "nullbox.n") {
		t.Errorf("a test on a nullbox source: want an error at line 9 naming nullbox.n, got %v", diags)
	}
	if _, diags = loadMap(t, map[string]string{"t/a.pkr.hcl": fmt.Sprintf(twoKinds, `only = ["box.one"]`)}, LoadOptions{}); diags.HasErrors() {
		t.Errorf("a test limited to box.one refused: %v", diags)
	}

	for name, bad := range map[string]string{
		"unknown only":    `test "shell" { only = ["box.three"] }`,
		"unknown type":    `test "goss" {}`,
		"bad timeout":     `test "shell" { timeout = "soon" }`,
		"unknown setting": `test "shell" { inlin = ["x"] }`,
	} {
		t.Run(name, func(t *testing.T) {
			src := "source \"box\" \"one\" {\n  image = \"x\"\n}\nbuild {\n  sources = [\"source.box.one\"]\n  " + bad + "\n}\n"
			_, diags := loadMap(t, map[string]string{"t/a.pkr.hcl": src}, LoadOptions{})
			d := firstError(diags)
			if d == nil {
				t.Fatalf("accepted: %v", diags)
			}
			if d.Subject == nil || d.Subject.Start.Line != 6 {
				t.Errorf("error not at line 6: %v", d)
			}
		})
	}
}
