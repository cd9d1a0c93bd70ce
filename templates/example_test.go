package templates_test

import (
	"fmt"
	"os"
	"testing/fstest"

	"github.com/bake-tool/bake/internal/kinds"
	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/provisioners/shell"
	"github.com/bake-tool/bake/templates"
)

func ExampleLoad() {
	fsys := fstest.MapFS{"t/image.pkr.hcl": {Data: []byte(`
variable "base" {
  default = "debian:bookworm"
}

source "docker" "app" {
  image  = var.base
  commit = true
}

build {
  sources = ["source.docker.app"]

  provisioner "shell" {
    inline = ["echo on ${build.Host}"]
  }
}
`)}}
	plan, diags := templates.Load("t", templates.LoadOptions{
		Kinds: kinds.All(),
		Vars:  []string{"base=debian:trixie"},
		FS:    fsys,
	})
	if diags.HasErrors() {
		_ = templates.WriteDiagnostics(os.Stderr, plan.Files, diags, false, 0, redact.New(plan.SensitiveValues()).String)
		return
	}
	for _, bs := range plan.BuildSources() {
		fmt.Println(bs.FullName(), plan.Variables[0].Value.AsString())
		for _, p := range bs.Build.ProvisionersFor(bs) {
			// At run time, with the machine's address known:
			cfg, _, _ := plan.DecodeProvisioner(p, bs, templates.BuildValues{Host: "10.0.0.7"})
			fmt.Println(p.Type, cfg.(*shell.Config).Inline)
		}
	}
	// Output:
	// docker.app debian:trixie
	// shell [echo on 10.0.0.7]
}
