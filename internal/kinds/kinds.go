package kinds

import (
	"context"
	"fmt"

	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/artifacts/postprocessors"
	"github.com/bake-tool/bake/builder/amazon"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/builder/null"
	"github.com/bake-tool/bake/builder/qemu"
	"github.com/bake-tool/bake/provisioners/ansible"
	"github.com/bake-tool/bake/provisioners/ansiblelocal"
	"github.com/bake-tool/bake/provisioners/breakpoint"
	"github.com/bake-tool/bake/provisioners/file"
	"github.com/bake-tool/bake/provisioners/shell"
	"github.com/bake-tool/bake/provisioners/shelllocal"
	"github.com/bake-tool/bake/provisioners/sleep"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/templates/httpdata"
)

// All returns the table of block kinds, a fresh copy on each call.
func All() templates.Kinds {
	return templates.Kinds{
		Sources: map[string]templates.Kind{
			"docker":     testable(kind[docker.Config]()),
			"qemu":       testable(kind[qemu.Config]()),
			"amazon-ebs": testable(kind[amazon.Config]()),
			"null":       kind[null.Config](),
		},
		Provisioners: map[string]templates.Kind{
			"shell":         kind[shell.Config](),
			"file":          kind[file.Config](),
			"shell-local":   kind[shelllocal.Config](),
			"breakpoint":    kind[breakpoint.Config](),
			"ansible":       kind[ansible.Config](),
			"ansible-local": kind[ansiblelocal.Config](),
			"sleep":         kind[sleep.Config](),
		},
		PostProcessors: map[string]templates.Kind{
			"manifest":      kind[postprocessors.ManifestConfig](),
			"checksum":      kind[postprocessors.ChecksumConfig](),
			"compress":      kind[postprocessors.CompressConfig](),
			"shell-local":   kind[shelllocal.Config](),
			"docker-tag":    kind[docker.TagConfig](),
			"docker-push":   kind[docker.PushConfig](),
			"docker-save":   kind[docker.SaveConfig](),
			"docker-import": kind[docker.ImportConfig](),
		},
		DataSources: map[string]templates.DataKind{
			"amazon-ami": {
				Kind:    kind[amazon.AMIDataConfig](),
				Type:    amazon.AMIDataType,
				Execute: notYet("amazon-ami", amazon.ExecuteAMIData),
			},
			"http": {
				Kind:    kind[httpdata.Config](),
				Type:    httpdata.Type,
				Execute: httpdata.Execute,
			},
		},
	}
}

// kind is the Kind whose New returns a zero *T.
func kind[T any, PT interface {
	*T
	templates.Config
}]() templates.Kind {
	return templates.Kind{New: func() templates.Config { return PT(new(T)) }}
}

// testable marks a source kind whose builder runs test blocks
// (builder.Tester).
func testable(k templates.Kind) templates.Kind {
	k.Tests = true
	return k
}

// executeFunc is a data source's Execute.
type executeFunc = func(ctx context.Context, cfg templates.Config) (cty.Value, error)

// notYet returns exec, or while a data source has no implementation yet
// (exec is nil), one that fails with an error naming it, so that the
// loader can always call Execute.
func notYet(name string, exec executeFunc) executeFunc {
	if exec != nil {
		return exec
	}
	return func(context.Context, templates.Config) (cty.Value, error) {
		return cty.NilVal, fmt.Errorf("the %s data source cannot run yet in this version of bake", name)
	}
}
