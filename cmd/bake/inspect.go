package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/templates"
)

const inspectExample = `Example:
  bake inspect .
  bake inspect -var-file prod.pkrvars.hcl template.pkr.hcl`

func runInspect(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("inspect", "[flags] PATH\n\nShow a template's variables, locals, sources and builds.\n\n"+inspectExample, env.stderr)
	var tf templateFlags
	fs.Var(&tf.vars, "var", "set a variable: -var name=value (repeatable)")
	fs.Var(&tf.varFiles, "var-file", "read variables from a .pkrvars.hcl file (repeatable)")
	pos, code, ok := parseVerbFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(env.stderr, "bake inspect: give one template file or directory")
		fs.Usage()
		return exitUsage
	}
	plan, diags := templates.Load(pos[0], tf.loadOptions(ctx, env))
	writeDiagnostics(env, plan, diags)
	if diags.HasErrors() {
		return exitUsage
	}
	fmt.Fprint(env.stdout, redact.New(plan.SensitiveValues()).String(inspectText(plan)))
	return exitOK
}

// inspectText renders plan for a reader.
func inspectText(plan *templates.Plan) string {
	var b strings.Builder
	section := func(title string, empty bool) bool {
		fmt.Fprintf(&b, "%s:\n", title)
		if empty {
			b.WriteString("  (none)\n")
		}
		return !empty
	}
	if section("Variables", len(plan.Variables) == 0) {
		for _, v := range plan.Variables {
			val := "<sensitive>"
			if !v.Sensitive {
				val = valueText(v.Value)
			}
			fmt.Fprintf(&b, "  var.%s: %s\n", v.Name, val)
			fmt.Fprintf(&b, "      type %s, set by %s", typeText(v.Type), v.SetBy)
			if v.Description != "" {
				fmt.Fprintf(&b, " — %s", v.Description)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
	if section("Locals", len(plan.Locals) == 0) {
		for _, l := range plan.Locals {
			val := "<sensitive>"
			if !l.Sensitive {
				val = valueText(l.Value)
			}
			fmt.Fprintf(&b, "  local.%s: %s\n", l.Name, val)
		}
	}
	if len(plan.DataSources) > 0 {
		b.WriteString("\nData sources:\n")
		for _, d := range plan.DataSources {
			fmt.Fprintf(&b, "  data.%s.%s\n", d.Type, d.Name)
		}
	}
	b.WriteString("\n")
	if section("Sources", len(plan.Sources) == 0) {
		for _, s := range plan.Sources {
			fmt.Fprintf(&b, "  %s\n", s.FullName())
		}
	}
	b.WriteString("\n")
	if section("Builds", len(plan.Builds) == 0) {
		for i, bd := range plan.Builds {
			if i > 0 {
				b.WriteString("\n")
			}
			name := bd.Name
			if name == "" {
				name = "(unnamed)"
			}
			fmt.Fprintf(&b, "  %s", name)
			if bd.Description != "" {
				fmt.Fprintf(&b, ": %s", bd.Description)
			}
			b.WriteString("\n    sources:\n")
			for _, bs := range bd.Sources {
				fmt.Fprintf(&b, "      %s", bs.FullName())
				if bs.Alias != "" {
					fmt.Fprintf(&b, " (source.%s.%s)", bs.Type, bs.Name)
				}
				b.WriteString("\n")
			}
			if len(bd.Provisioners) > 0 {
				b.WriteString("    provisioners:\n")
				for _, p := range bd.Provisioners {
					fmt.Fprintf(&b, "      %s%s\n", p.Type, metaText(p.Only, p.Except))
				}
			}
			if p := bd.ErrorCleanupProvisioner; p != nil {
				fmt.Fprintf(&b, "    error-cleanup-provisioner:\n      %s%s\n", p.Type, metaText(p.Only, p.Except))
			}
			if len(bd.Tests) > 0 {
				b.WriteString("    tests:\n")
				for _, p := range bd.Tests {
					s := p.Type
					if p.Name != "" {
						s += fmt.Sprintf(" %q", p.Name)
					}
					if p.Timeout > 0 {
						s += fmt.Sprintf(" (timeout %s)", p.Timeout)
					}
					fmt.Fprintf(&b, "      %s%s\n", s, metaText(p.Only, p.Except))
				}
			}
			if len(bd.PostProcessors) > 0 {
				b.WriteString("    post-processors:\n")
				for i, chain := range bd.PostProcessors {
					var parts []string
					for _, p := range chain {
						s := p.Type
						if p.Name != "" {
							s += fmt.Sprintf(" %q", p.Name)
						}
						parts = append(parts, s+metaText(p.Only, p.Except))
					}
					fmt.Fprintf(&b, "      %d: %s\n", i+1, strings.Join(parts, " → "))
				}
			}
		}
	}
	return b.String()
}

func metaText(only, except []string) string {
	switch {
	case len(only) > 0:
		return " (only " + strings.Join(only, ", ") + ")"
	case len(except) > 0:
		return " (except " + strings.Join(except, ", ") + ")"
	}
	return ""
}

// valueText renders a value in HCL syntax; values not known until data
// sources run show as <unknown>.
func valueText(v cty.Value) string {
	if !v.IsWhollyKnown() {
		return "<unknown>"
	}
	s := strings.TrimSpace(string(hclwrite.TokensForValue(v).Bytes()))
	return strings.ReplaceAll(s, "\n", "\n    ")
}

func typeText(t cty.Type) string {
	return typeexpr.TypeString(t)
}
