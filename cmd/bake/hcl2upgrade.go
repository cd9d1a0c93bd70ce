package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bake-tool/bake/internal/kinds"
	"github.com/bake-tool/bake/templates"
)

const hcl2UpgradeExample = `Example:
  bake hcl2_upgrade template.json                 # writes template.json.pkr.hcl
  bake hcl2_upgrade -output-file=build.pkr.hcl template.json`

// runHCL2Upgrade is Packer's hcl2_upgrade: a legacy JSON template in, an
// HCL2 template out, named as Packer names it so that scripts carry over.
func runHCL2Upgrade(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("hcl2_upgrade", "[flags] TEMPLATE.json\n\nWrite a legacy JSON template as an HCL2 template (TEMPLATE.json.pkr.hcl unless\n-output-file is given), formatted as bake fmt formats it.\n\n"+hcl2UpgradeExample, env.stderr)
	output := fs.String("output-file", "", "the file to write; TEMPLATE.pkr.hcl by default")
	fs.Bool("with-annotations", false, "accepted for Packer's scripts; bake writes no annotations")
	pos, code, ok := parseVerbFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(env.stderr, "bake hcl2_upgrade: give one JSON template")
		fs.Usage()
		return exitUsage
	}
	in := pos[0]
	out := *output
	if out == "" {
		out = in + ".pkr.hcl"
	}
	src, err := os.ReadFile(in)
	if err != nil {
		fmt.Fprintf(env.stderr, "bake hcl2_upgrade: %v\n", err)
		return exitUsage
	}
	hcl, files, diags := templates.Upgrade(src, in, kinds.All())
	if err := templates.WriteDiagnostics(env.stderr, files, diags, false, 0, nil); err != nil {
		fmt.Fprintf(env.stderr, "bake: %v\n", err)
	}
	if hcl == nil {
		return exitUsage
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		fmt.Fprintf(env.stderr, "bake hcl2_upgrade: %v\n", err)
		return exitFailed
	}
	if err := os.WriteFile(out, hcl, 0o644); err != nil {
		fmt.Fprintf(env.stderr, "bake hcl2_upgrade: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(env.stdout, "Successfully created %s.\n", out)
	if diags.HasErrors() {
		return exitUsage
	}
	return exitOK
}
