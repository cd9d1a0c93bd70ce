// Command bake builds machine images from HCL2 templates.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
)

// Exit codes, as the README documents them.
const (
	exitOK          = 0   // every build succeeded / the command did its job
	exitFailed      = 1   // at least one build failed, or a verification failed
	exitUsage       = 2   // bad flags, or an invalid template
	exitInterrupted = 130 // SIGINT/SIGTERM stopped the run
)

// command is one CLI verb. run gets the arguments after the verb and
// returns the process exit code.
type command struct {
	synopsis string
	run      func(ctx context.Context, env *cliEnv, args []string) int
}

// cliEnv is what a verb may touch of the process: the only place bake
// writes to the terminal.
type cliEnv struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	environ        []string
	// machine, when set (-machine-readable), is where results and
	// diagnostics go, as Packer's machine-readable lines on stdout.
	machine *machineUI
	// log is the debug log (PACKER_LOG, BAKE_LOG); it discards when off.
	log *debugLog
}

// withStdout returns a copy of e that writes results to w.
func (e *cliEnv) withStdout(w io.Writer) *cliEnv {
	c := *e
	c.stdout = w
	return &c
}

func commands() map[string]command {
	return map[string]command{
		"build":    {"Build images from a template", runBuild},
		"validate": {"Check that a template is valid", runValidate},
		"fmt":      {"Rewrite templates in the canonical format", runFmt},
		"inspect":  {"Show a template's variables, sources and builds", runInspect},
		"verify":   {"Verify a signed run manifest", runVerify},
		"sbom":     {"Print a build's SBOM (SPDX JSON) from a run manifest", runSBOM},
		"keygen":   {"Generate a signing key pair", runKeygen},
		"gc":       {"Find and remove what crashed runs left behind", runGC},
		"cache":    {"List or prune the build cache (ls, prune)", runCache},
		"manifest": {"Merge CI shards' run manifests into one (manifest merge)", runManifest},
		"plan":     {"List a template's builds as CI shards (-json for a matrix)", runPlan},
		"publish":  {"Publish a signed run manifest to a registry as a version", runPublish},
		"channel":  {"Point a channel at a version, roll it back, list it (signed records)", runChannel},
		"resolve":  {"Print, verified, what a channel or version holds for a build", runResolve},
		"revoke":   {"Revoke a published version (signed)", runRevoke},
		"versions": {"List a registry's versions with channel and revocation marks", runVersions},
		"attest":   {"Attach a signed run manifest to the images it pushed; verify it", runAttest},
		"prune":    {"Remove old versions of a registry and what they delivered", runPrune},
		"version":  {"Print bake's version", runVersion},
		"console":  {"Evaluate expressions as a template sees them", runConsole},
		"init":     {"Check a template's required_plugins against the built-in kinds", runInit},
		"serve":    {"Run pipelines as a service: schedules, run history, dashboard, API", runServe},
		"token":    {"Create an API token for bake serve (token create)", runToken},

		// Packer's verb name, so that scripts written for Packer carry over.
		"hcl2_upgrade": {"Write a legacy JSON template as an HCL2 template", runHCL2Upgrade},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: bake <command> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].synopsis)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'bake <command> -h' for a command's flags.")
}

func main() {
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, environ: os.Environ()}
	os.Exit(run(context.Background(), env, os.Args[1:]))
}

func run(ctx context.Context, env *cliEnv, args []string) int {
	// -machine-readable is global in Packer: accepted before or after
	// the verb.
	args, machine := extractMachineReadable(args)
	if machine {
		env = machineEnv(env)
	}
	dlog, err := openDebugLog(env.environ, env.stderr)
	if err != nil {
		fmt.Fprintf(env.stderr, "bake: PACKER_LOG_PATH/BAKE_LOG_PATH: %v\n", err)
		return exitUsage
	}
	defer dlog.Close()
	c := *env
	c.log = dlog
	env = &c
	if len(args) > 0 {
		env.log.Debug("bake starting", "version", version, "command", args[0], "machine_readable", machine)
	}
	if len(args) == 0 {
		usage(env.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(env.stdout)
		return exitOK
	case "-v", "-version", "--version":
		return runVersion(ctx, env, nil)
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "bake: unknown command %q\n\n", args[0])
		usage(env.stderr)
		return exitUsage
	}
	return cmd.run(ctx, env, args[1:])
}

// extractMachineReadable removes -machine-readable (or
// --machine-readable) from args, up to a "--", and reports whether it was
// there.
func extractMachineReadable(args []string) ([]string, bool) {
	out := make([]string, 0, len(args))
	found := false
	for i, a := range args {
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if a == "-machine-readable" || a == "--machine-readable" || a == "-machine-readable=true" || a == "--machine-readable=true" {
			found = true
			continue
		}
		out = append(out, a)
	}
	return out, found
}

// machineEnv returns a copy of e whose results come out as Packer's
// machine-readable ui lines on e's stdout.
func machineEnv(e *cliEnv) *cliEnv {
	c := *e
	c.machine = newMachineUI(e.stdout)
	c.stdout = sayWriter{c.machine}
	return &c
}
