package templates

import (
	"strings"
	"testing"
)

// TestInterpolationStages checks when each {{ }} value is rendered: the
// run's time when the template loads (the same in every block), the build
// source's name once the provisioner is decoded for it, the build's
// values once the machine is up.
func TestInterpolationStages(t *testing.T) {
	plan, diags := loadMap(t, map[string]string{"t/t.pkr.hcl": `
source "box" "a" {
  image = "img-{{ timestamp }}"
  tags  = { "{{ build_type }}" = "{{ build_name }}" }
}
build {
  sources = ["source.box.a"]
  provisioner "shell" {
    inline = ["{{ timestamp }}", "{{ build_name }}", "{{ build ` + "`Host`" + ` }}:{{ .Port }}"]
  }
}
`}, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	src := plan.Builds[0].Sources[0].Config.(*tSource)
	if src.Image != "img-1714979289" || src.Tags["box"] != "a" {
		t.Errorf("source rendered at load: %+v", src)
	}
	pv := plan.Builds[0].Provisioners[0]
	if !pv.Body.IsUnknown("inline") {
		t.Errorf("inline uses build values, so it is unknown before the build: %+v", pv.Config)
	}
	cfg, _, diags := plan.DecodeProvisioner(pv, plan.Builds[0].Sources[0], BuildValues{Host: "10.0.0.7", Port: 2222})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := strings.Join(cfg.(*tProv).Inline, " ")
	if got != "1714979289 a 10.0.0.7:2222" {
		t.Errorf("inline once the machine is up: %q", got)
	}
}
