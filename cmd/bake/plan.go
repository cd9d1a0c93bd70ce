package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bake-tool/bake/templates"
)

const planSynopsis = `[-json] [-only G] [-except G] [-var K=V] [-var-file F] TEMPLATE

Lists the builds bake build would run, for CI to fan them out: with -json,
{"builds": [...], "shards": [...]}, each build with its type.name, source
type and build block, and one shard per source type whose "only" value is
what that shard's job passes to bake build -only. The shards' run
manifests are joined with bake manifest merge, then published as one
version.
Exit status: 0 listed, 2 invalid template or usage.

Example (GitHub Actions):
  echo "matrix=$(bake plan -json . | jq -c '{include: .shards}')" >> "$GITHUB_OUTPUT"`

// planBuild is one build of bake plan -json.
type planBuild struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Block string `json:"build,omitempty"`
	Only  string `json:"only"`
}

// planShard is one CI job's part of the run.
type planShard struct {
	Type   string   `json:"type"`
	Only   string   `json:"only"`
	Builds []string `json:"builds"`
}

func runPlan(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("plan", planSynopsis, env.stderr)
	var tf templateFlags
	tf.register(fs)
	asJSON := fs.Bool("json", false, "print the builds and shards as JSON")
	pos, code, ok := parseVerbFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(env.stderr, "bake plan: give one template file or directory")
		fs.Usage()
		return exitUsage
	}
	plan, diags := templates.Load(pos[0], tf.loadOptions(ctx, env))
	if len(diags) > 0 {
		writeDiagnostics(env, plan, diags)
	}
	if diags.HasErrors() || plan == nil {
		return exitUsage
	}
	selected, sdiags := plan.Select(tf.only.values, tf.except.values)
	if sdiags.HasErrors() {
		writeDiagnostics(env, plan, sdiags)
		return exitUsage
	}
	builds := []planBuild{}
	byType := map[string]*planShard{}
	for _, bs := range selected {
		b := planBuild{Name: bs.FullName(), Type: bs.Type, Only: bs.FullName()}
		if bs.Build != nil {
			b.Block = bs.Build.Name
		}
		builds = append(builds, b)
		s := byType[bs.Type]
		if s == nil {
			s = &planShard{Type: bs.Type}
			byType[bs.Type] = s
		}
		s.Builds = append(s.Builds, b.Name)
	}
	shards := []planShard{}
	for _, s := range byType {
		sort.Strings(s.Builds)
		s.Only = strings.Join(s.Builds, ",")
		shards = append(shards, *s)
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].Type < shards[j].Type })
	if *asJSON {
		writeJSON(env.stdout, map[string]any{"builds": builds, "shards": shards})
		return exitOK
	}
	for _, s := range shards {
		fmt.Fprintf(env.stdout, "%s: bake build -only '%s'\n", s.Type, s.Only)
	}
	return exitOK
}
