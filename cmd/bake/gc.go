package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bake-tool/bake/internal/gc"
	"github.com/bake-tool/bake/internal/kinds"
)

// defaultGCAge is -older-than when no -run-id names a run: long enough
// that no build still going (a nightly golden image with AMI copies) is
// touched, even one on another machine.
const defaultGCAge = 24 * time.Hour

const gcSynopsis = `[-run-id ID] [-older-than DURATION] [-dry-run] [-region R]... [-endpoint URL]

Finds what bake runs left behind (a SIGKILL, a power cut, -on-error=abort)
and removes it: containers and images labelled dev.bake.run-id, qemu
processes, their temporary and output directories, EC2 instances, AMIs,
snapshots, key pairs and security groups tagged bake:run-id, shell-local
processes and temporary files. It lists each thing (status, what, id, run,
build, age).

A run still going on this machine is never touched. -older-than skips
anything younger (default 24h, or 0 with -run-id). Images, AMIs and their
snapshots, and qemu outputs are removed only when this machine's journal
shows that their run crashed: otherwise they may be a finished build's
artifact.

Example:
  bake gc -dry-run
  bake gc -run-id 0b9a7c54-3a4f-4c2e-9f1d-2d6c1e8a9b70
  bake gc -older-than 2h -region eu-west-1,us-east-1`

func runGC(ctx context.Context, env *cliEnv, args []string) int {
	fset := newFlagSet("gc", gcSynopsis, env.stderr)
	runID := fset.String("run-id", "", "only what run `ID` left")
	olderThan := fset.Duration("older-than", defaultGCAge, "skip anything younger than `DURATION` (default 24h; 0 with -run-id)")
	dryRun := fset.Bool("dry-run", false, "list what would be removed; remove nothing")
	regions := &stringList{split: true}
	fset.Var(regions, "region", "AWS `region`s to search (repeatable, comma-separated; default $AWS_REGION or $AWS_DEFAULT_REGION)")
	endpoint := fset.String("endpoint", "", "EC2 endpoint `URL` (as custom_endpoint_ec2)")
	pos, err := parseInterleaved(fset, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(env.stderr, "bake gc: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	if *olderThan < 0 {
		fmt.Fprintln(env.stderr, "bake gc: -older-than must not be negative")
		return exitUsage
	}
	ageSet := false
	fset.Visit(func(f *flag.Flag) { ageSet = ageSet || f.Name == "older-than" })
	if *runID != "" && !ageSet {
		*olderThan = 0
	}
	if len(regions.values) == 0 {
		for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
			if v, _ := environValue(env.environ, k); v != "" {
				regions.values = []string{v}
				break
			}
		}
	}
	getenv := func(k string) string { v, _ := environValue(env.environ, k); return v }

	rep := gc.Sweep(ctx, kinds.Finders(kinds.GCConfig{Regions: regions.values, Endpoint: *endpoint}), gc.Options{
		Filter:  gc.Filter{RunID: *runID, OlderThan: *olderThan},
		DryRun:  *dryRun,
		Journal: gc.DefaultJournal(getenv),
	})
	printGC(env, rep, *dryRun)
	if rep.Failed() {
		return exitFailed
	}
	return exitOK
}

func printGC(env *cliEnv, rep gc.Report, dryRun bool) {
	for _, n := range rep.Notes {
		fmt.Fprintf(env.stderr, "bake gc: %v\n", n)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(env.stderr, "bake gc: %v\n", e)
	}
	if len(rep.Items) == 0 {
		fmt.Fprintln(env.stdout, "nothing left behind")
		return
	}
	w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "STATUS\tWHAT\tID\tRUN\tBUILD\tAGE\tNOTE")
	removed, kept, failed := 0, 0, 0
	for _, o := range rep.Items {
		status, note := "removed", o.Detail
		switch {
		case o.Err != nil:
			status, note = "FAILED", o.Err.Error()
			failed++
		case o.Skipped != "":
			status, note = "kept", o.Skipped
			kept++
		case dryRun:
			status = "would remove"
			removed++
		default:
			removed++
		}
		id := o.ID
		if o.Where != "" {
			id += " (" + o.Where + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", status, o.Kind, shortID(id), o.RunID, dash(o.Build), formatAge(o.Age), note)
	}
	w.Flush()
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(env.stdout, "%s %d, kept %d, failed %d\n", verb, removed, kept, failed)
}

// shortID shortens a docker id (64 hex digits, maybe after sha256:) to
// the 12 digits docker shows.
func shortID(id string) string {
	hex, prefix := id, ""
	if p, rest, ok := strings.Cut(id, ":"); ok && p == "sha256" {
		hex, prefix = rest, "sha256:"
	}
	if len(hex) == 64 && strings.Trim(hex, "0123456789abcdef") == "" {
		return prefix + hex[:12]
	}
	return id
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatAge prints an age to the largest two units: 3d4h, 5h2m, 4m10s.
func formatAge(d time.Duration) string {
	if d <= 0 {
		return "?"
	}
	d = d.Round(time.Second)
	days, h, m, s := d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
