package kinds

import (
	"fmt"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/postprocessors"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
)

// Registry returns the constructors of every kind's implementation, the
// plain map the engine looks builders, provisioners and post-processors
// up in.
func Registry() engine.Registry {
	return engine.Registry{
		Builders: map[string]engine.BuilderFunc{
			"docker": docker.NewBuilder,
		},
		Provisioners: map[string]engine.ProvisionerFunc{},
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
