package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/cache/share"
	"github.com/bake-tool/bake/templates"
)

const cacheSynopsis = `ls | prune [-keep-bytes N] [-older-than DURATION]

Lists or removes the build cache's entries: docker images committed after
provisioners (tagged bake-cache:<key>), docker builds' final images and
qemu builds' output disks (kept in the cache directory). The cache lives
in $BAKE_CACHE_DIR, else the user's cache directory + "/bake". bake build
-no-cache (or BAKE_NO_CACHE=1) neither reads nor writes it; bake build
-cache-from/-cache-to REG/REPO also read/write entries in a registry
(prune does not touch the registry).

ls prints each entry: key, kind, build, step, size, age, last use and the
run that made it, the most recently used first.

prune removes entries last used longer ago than -older-than, then the
least recently used ones until the entries left take at most -keep-bytes.
With neither flag it removes every entry.

Example:
  bake cache ls
  bake cache prune -older-than 168h
  bake cache prune -keep-bytes 10000000000`

// openBuildCache opens the build cache for bake build; nil with
// -no-cache or BAKE_NO_CACHE=1.
func openBuildCache(noCache bool) (*cache.Store, error) {
	if noCache {
		return nil, nil
	}
	if v := os.Getenv("BAKE_NO_CACHE"); v != "" {
		if off, err := strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("BAKE_NO_CACHE=%q: want 1 or 0", v)
		} else if off {
			return nil, nil
		}
	}
	dir, err := cache.Dir()
	if err != nil {
		return nil, err
	}
	return cache.Open(dir)
}

// openSharedCache opens the registry of -cache-from and -cache-to; nil
// when neither is set. They need the local cache (entries are checked
// and kept there), so -no-cache with either is a usage error.
func openSharedCache(local *cache.Store, from, to string) (*share.Registry, error) {
	if from == "" && to == "" {
		return nil, nil
	}
	if local == nil {
		return nil, errors.New("-cache-from and -cache-to need the build cache: drop -no-cache (or BAKE_NO_CACHE=1)")
	}
	return share.Open(from, to)
}

// stepEntries hands a build's cache records to the run manifest.
func stepEntries(recs []cache.Record) []artifacts.StepEntry {
	var out []artifacts.StepEntry
	for _, r := range recs {
		out = append(out, artifacts.StepEntry{Step: r.Step, Status: r.Status, Key: string(r.Key), RunID: r.RunID})
	}
	return out
}

func runCache(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || (args[0] != "ls" && args[0] != "prune") {
		fs := newFlagSet("cache", cacheSynopsis, env.stderr)
		if len(args) > 0 && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" {
			fmt.Fprintf(env.stderr, "bake cache: unknown subcommand %q (ls or prune)\n", args[0])
			return exitUsage
		}
		fs.Usage()
		if len(args) > 0 {
			return exitOK
		}
		return exitUsage
	}
	fs := newFlagSet("cache "+args[0], cacheSynopsis, env.stderr)
	keepBytes := int64(-1)
	var olderThan time.Duration
	if args[0] == "prune" {
		fs.Int64Var(&keepBytes, "keep-bytes", -1, "keep at most `N` bytes of entries, the most recently used")
		fs.DurationVar(&olderThan, "older-than", 0, "remove entries last used longer ago than `DURATION`")
	}
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(env.stderr, "bake cache %s: unexpected argument %q\n", args[0], pos[0])
		return exitUsage
	}
	if olderThan < 0 {
		fmt.Fprintln(env.stderr, "bake cache prune: -older-than must not be negative")
		return exitUsage
	}
	dir, err := cache.Dir()
	if err != nil {
		fmt.Fprintf(env.stderr, "bake cache: %s\n", err)
		return exitFailed
	}
	store, err := cache.Open(dir)
	if err != nil {
		fmt.Fprintf(env.stderr, "bake cache: %s\n", err)
		return exitFailed
	}
	entries, err := store.List()
	if err != nil {
		fmt.Fprintf(env.stderr, "bake cache: %s\n", err)
		return exitFailed
	}
	now := time.Now()
	if args[0] == "ls" {
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tKIND\tBUILD\tSTEP\tSIZE\tAGE\tLAST USE\tRUN")
		var total int64
		for _, e := range entries {
			total += e.Size
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Key.Short(), e.Kind, e.Build, e.Step, templates.Size(e.Size),
				ago(now, e.Created), ago(now, e.LastUsed), e.RunID)
		}
		tw.Flush()
		fmt.Fprintf(env.stderr, "%d entries, %s, in %s\n", len(entries), templates.Size(total), dir)
		return exitOK
	}
	victims := pruneSet(entries, now, olderThan, keepBytes)
	var failed bool
	var freed int64
	for _, e := range victims {
		if err := removeEntry(ctx, store, e); err != nil {
			fmt.Fprintf(env.stderr, "bake cache prune: %s %s: %s\n", e.Kind, e.Key.Short(), err)
			failed = true
			continue
		}
		freed += e.Size
		fmt.Fprintf(env.stdout, "removed %s %s (%s, %s, last used %s)\n", e.Kind, e.Key.Short(), e.Build, templates.Size(e.Size), ago(now, e.LastUsed))
	}
	fmt.Fprintf(env.stderr, "removed %d of %d entries, %s\n", len(victims), len(entries), templates.Size(freed))
	if failed {
		return exitFailed
	}
	return exitOK
}

// pruneSet picks what prune removes from entries (most recently used
// first): those last used before now-olderThan, then the least recently
// used until the rest fit in keepBytes. With neither limit, all.
func pruneSet(entries []*cache.Entry, now time.Time, olderThan time.Duration, keepBytes int64) []*cache.Entry {
	if olderThan == 0 && keepBytes < 0 {
		return entries
	}
	var keep, out []*cache.Entry
	for _, e := range entries {
		if olderThan > 0 && now.Sub(e.LastUsed) > olderThan {
			out = append(out, e)
		} else {
			keep = append(keep, e)
		}
	}
	if keepBytes >= 0 {
		var total int64
		for i, e := range keep {
			total += e.Size
			if total > keepBytes {
				out = append(out, keep[i:]...)
				break
			}
		}
	}
	return out
}

// removeEntry removes what e names (a docker image's cache tag) and then
// its index file and blobs.
func removeEntry(ctx context.Context, store *cache.Store, e *cache.Entry) error {
	unlock, err := store.Lock(e.Key)
	if err != nil {
		return err
	}
	defer unlock()
	switch e.Kind {
	case cache.KindDockerStep, cache.KindDockerImage:
		if err := docker.RemoveCached(ctx, e); err != nil {
			return err
		}
	}
	return store.Remove(e.Key)
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}
