package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/internal/kinds"
	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/templates"
)

const validateExample = `Example:
  bake validate .
  bake validate -var region=eu-west-1 -var-file prod.pkrvars.hcl template.pkr.hcl
  bake validate -syntax-only template.pkr.hcl
  bake validate -only 'docker.*' .`

// templateFlags are the flags of every verb that loads a template.
type templateFlags struct {
	vars, varFiles, only, except stringList
}

func (tf *templateFlags) register(fs *flag.FlagSet) {
	tf.only.split, tf.except.split = true, true
	fs.Var(&tf.vars, "var", "set a variable: -var name=value (repeatable)")
	fs.Var(&tf.varFiles, "var-file", "read variables from a .pkrvars.hcl file (repeatable)")
	fs.Var(&tf.only, "only", "only the builds matching these comma-separated globs on type.name")
	fs.Var(&tf.except, "except", "all builds but those matching these comma-separated globs, and the post-processors of those names")
	// Packer hides undeclared var-file entries unless asked; bake always
	// warns, naming the variable, so the flag is accepted and changes
	// nothing.
	fs.Bool("warn-on-undeclared-var", true, "accepted for Packer's scripts: bake always warns about a value for an undeclared variable")
}

// loadOptions returns the options to load a template with for env.
func (tf *templateFlags) loadOptions(ctx context.Context, env *cliEnv) templates.LoadOptions {
	return templates.LoadOptions{
		Kinds:    kinds.All(),
		Vars:     tf.vars.values,
		VarFiles: tf.varFiles.values,
		Env:      env.environ,
		Context:  ctx,
		Version:  version,
	}
}

// writeDiagnostics prints diags to stderr with the source lines, with
// every sensitive value redacted.
func writeDiagnostics(env *cliEnv, plan *templates.Plan, diags hcl.Diagnostics) {
	var files map[string]*hcl.File
	var r *redact.Redactor
	if plan != nil {
		files, r = plan.Files, redact.New(plan.SensitiveValues())
	}
	if env.machine != nil {
		var buf bytes.Buffer
		if err := templates.WriteDiagnostics(&buf, files, diags, false, 0, r.String); err != nil {
			env.machine.error(fmt.Sprintf("bake: %v", err))
		}
		machineDiagnostics(env.machine, buf.Bytes(), diags.HasErrors())
		return
	}
	if err := templates.WriteDiagnostics(env.stderr, files, diags, false, 0, r.String); err != nil {
		fmt.Fprintf(env.stderr, "bake: %v\n", err)
	}
}

// parseVerbFlags parses args and returns the positional arguments, or an
// exit code when parsing ended the command.
func parseVerbFlags(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, exitOK, false
	}
	if err != nil {
		return nil, exitUsage, false
	}
	return pos, 0, true
}

func runValidate(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("validate", "[flags] PATH\n\nCheck that a template is valid: every error is reported with its file, line and source.\n\n"+validateExample, env.stderr)
	var tf templateFlags
	tf.register(fs)
	syntaxOnly := fs.Bool("syntax-only", false, "only check that the files parse")
	pos, code, ok := parseVerbFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(env.stderr, "bake validate: give one template file or directory")
		fs.Usage()
		return exitUsage
	}
	opts := tf.loadOptions(ctx, env)
	opts.SyntaxOnly = *syntaxOnly
	plan, diags := templates.Load(pos[0], opts)
	if !diags.HasErrors() && !*syntaxOnly && (len(tf.only.values) > 0 || len(tf.except.values) > 0) {
		exceptBuilds, _ := splitExcept(plan, tf.except.values)
		_, d := plan.Select(tf.only.values, exceptBuilds)
		diags = append(diags, d...)
	}
	writeDiagnostics(env, plan, diags)
	if diags.HasErrors() {
		return exitUsage
	}
	fmt.Fprintln(env.stdout, "The configuration is valid.")
	return exitOK
}
