package main

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/bake-tool/bake/internal/kinds"
	"github.com/bake-tool/bake/templates"
)

const initSynopsis = `[TEMPLATE]

Checks the template's required_plugins against bake's built-in kinds and
says which built-in serves each plugin. bake has no external plugins and
downloads nothing: init exits 0 when every required plugin is served, and
1 naming the plugins that are not.

Example:
  bake init .
  bake init template.pkr.hcl`

func runInit(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("init", initSynopsis, env.stderr)
	fs.Bool("upgrade", false, "accepted for Packer's scripts; bake has nothing to upgrade")
	pos, code, ok := parseVerbFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(env.stderr, "bake init: give one template file or directory")
		fs.Usage()
		return exitUsage
	}
	// Only the files' syntax matters, as for packer init: a block of a
	// kind no plugin serves is what init is asked to report, not an error.
	opts := templates.LoadOptions{Kinds: kinds.All(), Env: env.environ, Context: ctx, Version: version, SyntaxOnly: true}
	plan, diags := templates.Load(pos[0], opts)
	if diags.HasErrors() {
		writeDiagnostics(env, plan, diags)
		return exitUsage
	}
	opts.SyntaxOnly = false
	plan, _ = templates.Load(pos[0], opts)

	type plugin struct{ name, source string }
	var plugins []plugin
	for _, req := range plan.Requirements {
		for name, source := range req.Plugins {
			plugins = append(plugins, plugin{name, source})
		}
	}
	sort.Slice(plugins, func(i, j int) bool { return plugins[i].name < plugins[j].name })
	if len(plugins) == 0 {
		fmt.Fprintln(env.stdout, "No required_plugins: every kind bake knows is built in; nothing to install.")
		return exitOK
	}
	all := builtinKinds(kinds.All())
	var missing []string
	for _, p := range plugins {
		label := p.name
		if p.source != "" {
			label = p.source
		}
		served := servedKinds(all, pluginShortName(p.name, p.source))
		if len(served) == 0 {
			missing = append(missing, label)
			fmt.Fprintf(env.stdout, "%s: not served: no built-in kind of bake belongs to this plugin\n", label)
			continue
		}
		fmt.Fprintf(env.stdout, "%s: served by built-in %s\n", label, strings.Join(served, ", "))
	}
	if len(missing) > 0 {
		fmt.Fprintf(env.stderr, "bake init: %d required plugin(s) not served by a built-in kind (bake downloads no plugins): %s\n",
			len(missing), strings.Join(missing, ", "))
		return exitFailed
	}
	return exitOK
}

// pluginShortName is the plugin's name as its kinds begin: the source's
// last element without "packer-plugin-" ("github.com/hashicorp/amazon" →
// "amazon"), or the required_plugins entry's name without a source.
func pluginShortName(name, source string) string {
	if source == "" {
		return name
	}
	return strings.TrimPrefix(path.Base(source), "packer-plugin-")
}

// builtinKinds lists every built-in kind as "what name" ("source docker").
func builtinKinds(k templates.Kinds) [][2]string {
	var out [][2]string
	add := func(what string, names []string) {
		sort.Strings(names)
		for _, n := range names {
			out = append(out, [2]string{what, n})
		}
	}
	add("source", keysOf(k.Sources))
	add("provisioner", keysOf(k.Provisioners))
	add("post-processor", keysOf(k.PostProcessors))
	add("data source", keysOf(k.DataSources))
	return out
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// servedKinds returns the built-in kinds that belong to the plugin named
// short: those named short, or short followed by "-" (amazon: amazon-ebs
// and the amazon-ami data source), as Packer names a plugin's kinds.
func servedKinds(all [][2]string, short string) []string {
	var out []string
	for _, k := range all {
		if k[1] == short || strings.HasPrefix(k[1], short+"-") {
			out = append(out, k[0]+" "+k[1])
		}
	}
	return out
}
