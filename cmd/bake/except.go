package main

import (
	"path"

	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/templates"
)

// splitExcept sorts -except patterns as Packer applies them: a pattern
// that matches a post-processor's name (its type when it has no name)
// skips that post-processor; one that matches a build skips the build.
// forBuilds keeps every pattern that matches a build or nothing at all, so
// that Plan.Select still reports a pattern that matches nothing.
func splitExcept(plan *templates.Plan, except []string) (forBuilds, forPostProcessors []string) {
	for _, pat := range except {
		pp := false
		for _, b := range plan.Builds {
			for _, chain := range b.PostProcessors {
				for _, p := range chain {
					if ok, _ := path.Match(pat, postProcessorName(p.Name, p.Type)); ok {
						pp = true
					}
				}
			}
		}
		if !pp {
			forBuilds = append(forBuilds, pat)
			continue
		}
		forPostProcessors = append(forPostProcessors, pat)
		if _, diags := plan.Select(nil, []string{pat}); !diags.HasErrors() {
			forBuilds = append(forBuilds, pat)
		}
	}
	return forBuilds, forPostProcessors
}

// postProcessorName is what -except matches a post-processor by.
func postProcessorName(name, typ string) string {
	if name != "" {
		return name
	}
	return typ
}

// skipPostProcessors removes from each job's chains the post-processors
// that except matches, with the rest of their chain (a later one would
// get an artifact it was not written for), as Packer does; chains left
// empty are dropped.
func skipPostProcessors(jobs []*engine.Job, except []string) {
	if len(except) == 0 {
		return
	}
	for _, j := range jobs {
		var chains [][]*engine.PostProcessorStep
		for _, chain := range j.PostProcessors {
			n := len(chain)
		steps:
			for i, s := range chain {
				for _, pat := range except {
					if ok, _ := path.Match(pat, postProcessorName(s.Name, s.Type)); ok {
						n = i
						break steps
					}
				}
			}
			if n > 0 {
				chains = append(chains, chain[:n])
			}
		}
		j.PostProcessors = chains
	}
}
