package kinds

import (
	"fmt"
	"io"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/postprocessors"
	"github.com/bake-tool/bake/builder/amazon"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/builder/null"
	"github.com/bake-tool/bake/builder/qemu"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/ansible"
	"github.com/bake-tool/bake/provisioners/ansiblelocal"
	"github.com/bake-tool/bake/provisioners/breakpoint"
	"github.com/bake-tool/bake/provisioners/file"
	"github.com/bake-tool/bake/provisioners/shell"
	"github.com/bake-tool/bake/provisioners/shelllocal"
	"github.com/bake-tool/bake/provisioners/sleep"
	"github.com/bake-tool/bake/templates"
)

// Registry returns the constructors of every kind's implementation, the
// plain map the engine looks builders, provisioners and post-processors
// up in.
//
// terminal is where the breakpoint provisioner waits for Enter: the
// terminal on stdin, or nil when there is none (breakpoints are skipped).
func Registry(terminal io.Reader) engine.Registry {
	return engine.Registry{
		Builders: map[string]engine.BuilderFunc{
			"docker":     docker.NewBuilder,
			"null":       null.NewBuilder,
			"qemu":       qemu.NewBuilder,
			"amazon-ebs": amazon.NewBuilder,
		},
		Provisioners: map[string]engine.ProvisionerFunc{
			"shell":         shell.NewProvisioner,
			"file":          file.NewProvisioner,
			"shell-local":   shelllocal.NewProvisioner,
			"breakpoint":    breakpoint.Constructor(terminal),
			"ansible":       ansible.NewProvisioner,
			"ansible-local": ansiblelocal.NewProvisioner,
			"sleep":         sleep.NewProvisioner,
		},
		PostProcessors: map[string]engine.PostProcessorFunc{
			"manifest": func(cfg templates.Config, info provisioners.BuildInfo) (artifacts.PostProcessor, error) {
				c, err := configOf[*postprocessors.ManifestConfig](cfg)
				if err != nil {
					return nil, err
				}
				return postprocessors.NewManifest(c, runContext(info)), nil
			},
			"checksum": func(cfg templates.Config, info provisioners.BuildInfo) (artifacts.PostProcessor, error) {
				c, err := configOf[*postprocessors.ChecksumConfig](cfg)
				if err != nil {
					return nil, err
				}
				return postprocessors.NewChecksum(c, runContext(info)), nil
			},
			"compress": func(cfg templates.Config, info provisioners.BuildInfo) (artifacts.PostProcessor, error) {
				c, err := configOf[*postprocessors.CompressConfig](cfg)
				if err != nil {
					return nil, err
				}
				return postprocessors.NewCompress(c, runContext(info)), nil
			},
			"shell-local":   shelllocal.NewPostProcessor,
			"docker-tag":    dockerPP("docker-tag"),
			"docker-push":   dockerPP("docker-push"),
			"docker-save":   dockerPP("docker-save"),
			"docker-import": dockerPP("docker-import"),
		},
	}
}

func dockerPP(kind string) engine.PostProcessorFunc {
	return func(cfg templates.Config, info provisioners.BuildInfo) (artifacts.PostProcessor, error) {
		return docker.NewPostProcessor(kind, cfg, info)
	}
}

func runContext(info provisioners.BuildInfo) postprocessors.RunContext {
	return postprocessors.RunContext{RunUUID: info.RunID, BuildName: info.SourceName, BuilderType: info.Type}
}

func configOf[T templates.Config](cfg templates.Config) (T, error) {
	c, ok := cfg.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("internal error: config is %T, want %T", cfg, zero)
	}
	return c, nil
}
