package engine

import (
	"errors"
	"fmt"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
	"github.com/hashicorp/hcl/v2"
)

// Registry maps each block kind to the constructor of its implementation.
// It is a plain table the binary fills in (internal/kinds), never a
// self-registration.
type Registry struct {
	Builders       map[string]BuilderFunc
	Provisioners   map[string]ProvisionerFunc
	PostProcessors map[string]PostProcessorFunc
}

// BuilderFunc makes a builder from its source's decoded config.
type BuilderFunc func(cfg templates.Config, opts builder.Options) (builder.Builder, error)

// ProvisionerFunc makes a provisioner from its block's config, decoded
// with the build's values known.
type ProvisionerFunc func(cfg templates.Config, info provisioners.BuildInfo) (provisioners.Provisioner, error)

// PostProcessorFunc makes a post-processor from its block's config.
type PostProcessorFunc func(cfg templates.Config, info provisioners.BuildInfo) (artifacts.PostProcessor, error)

// DiagnosticsError carries template diagnostics found while a build runs
// (a provisioner block re-decoded with build.* values known).
type DiagnosticsError struct{ Diags hcl.Diagnostics }

func (e *DiagnosticsError) Error() string { return e.Diags.Error() }

// Jobs turns the selected build sources of plan into jobs. It fails when a
// kind has no implementation in reg.
func Jobs(plan *templates.Plan, selected []*templates.BuildSource, reg Registry) ([]*Job, error) {
	var jobs []*Job
	var errs []error
	for _, bs := range selected {
		bs := bs
		newBuilder, ok := reg.Builders[bs.Type]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no builder for source type %q", bs.QualifiedName(), bs.Type))
			continue
		}
		job := &Job{
			Name:       bs.QualifiedName(),
			Type:       bs.Type,
			SourceName: bs.LocalName(),
			BuildName:  bs.Build.Name,
			NewBuilder: func(opts builder.Options) (builder.Builder, error) { return newBuilder(bs.Config, opts) },
		}
		for _, pv := range bs.Build.ProvisionersFor(bs) {
			ps, err := provisionerStep(plan, bs, pv, reg)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			job.Provisioners = append(job.Provisioners, ps)
		}
		if ec := bs.Build.ErrorCleanupProvisioner; ec != nil && ec.AppliesTo(bs) {
			ps, err := provisionerStep(plan, bs, ec, reg)
			if err != nil {
				errs = append(errs, err)
			} else {
				job.ErrorCleanup = ps
			}
		}
		for _, tv := range bs.Build.TestsFor(bs) {
			ps, err := provisionerStep(plan, bs, tv, reg)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ps.Test = true
			job.Tests = append(job.Tests, ps)
		}
		for _, chain := range bs.Build.PostProcessorsFor(bs) {
			var steps []*PostProcessorStep
			for _, pp := range chain {
				pp := pp
				newPP, ok := reg.PostProcessors[pp.Type]
				if !ok {
					errs = append(errs, fmt.Errorf("%s: no implementation of post-processor %q", bs.QualifiedName(), pp.Type))
					continue
				}
				keep := pp.KeepInputArtifact != nil && *pp.KeepInputArtifact
				steps = append(steps, &PostProcessorStep{Type: pp.Type, Name: pp.Name, KeepInput: keep,
					Make: func(info provisioners.BuildInfo) (artifacts.PostProcessor, error) {
						cfg, _, diags := plan.DecodePostProcessor(pp, bs, buildValues(info))
						if diags.HasErrors() {
							return nil, &DiagnosticsError{diags}
						}
						return newPP(cfg, info)
					}})
			}
			job.PostProcessors = append(job.PostProcessors, steps)
		}
		jobs = append(jobs, job)
	}
	return jobs, errors.Join(errs...)
}

func provisionerStep(plan *templates.Plan, bs *templates.BuildSource, pv *templates.Provisioner, reg Registry) (*ProvisionerStep, error) {
	newProv, ok := reg.Provisioners[pv.Type]
	if !ok {
		return nil, fmt.Errorf("%s: no implementation of provisioner %q", bs.QualifiedName(), pv.Type)
	}
	return &ProvisionerStep{
		Type: pv.Type, Name: pv.Name, PauseBefore: pv.PauseBefore, Timeout: pv.Timeout, MaxRetries: pv.MaxRetries, NoCache: pv.NoCache,
		Make: func(info provisioners.BuildInfo) (provisioners.Provisioner, error) {
			cfg, _, diags := plan.DecodeProvisioner(pv, bs, buildValues(info))
			if diags.HasErrors() {
				return nil, &DiagnosticsError{diags}
			}
			return newProv(cfg, info)
		},
	}, nil
}

func buildValues(info provisioners.BuildInfo) templates.BuildValues {
	return templates.BuildValues{ID: info.ID, Name: info.Name, Host: info.Host, Port: info.Port, User: info.User,
		Password: info.Password, SSHPublicKey: info.SSHPublicKey, SSHPrivateKey: info.SSHPrivateKey}
}
