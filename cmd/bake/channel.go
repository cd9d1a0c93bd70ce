package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/bake-tool/bake/artifacts/registry"
)

const channelSynopsis = `set|history|rollback|ls ...

  bake channel set REG/REPO CHANNEL VERSION -sign-key K [-reason TEXT] [-by WHO]
  bake channel rollback REG/REPO CHANNEL -sign-key K [-reason TEXT] [-by WHO]
  bake channel history REG/REPO CHANNEL [-key PUB] [-json]
  bake channel ls REG/REPO [-key PUB] [-json]

A channel (prod, staging, …) points at a version through a chain of
signed records, each with the previous record's digest and a sequence
number one higher. set appends a record; rollback appends one that points
at the version before the current one (skipping revoked versions);
history walks the chain; ls lists the channels. The signing key is
-sign-key or BAKE_SIGN_KEY; the current record must verify with it.
Exit status: 0 done, 1 failed (not found, bad signature, registry error),
2 usage.

Example:
  bake channel set registry.example.com/golden/base prod 2026.11.30 -sign-key release.key -reason "passed staging"`

func runChannel(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(env.stderr, "Usage: bake channel %s\n", channelSynopsis)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(env.stdout, "Usage: bake channel %s\n", channelSynopsis)
		return exitOK
	case "set", "rollback":
		return runChannelWrite(ctx, env, args[0], args[1:])
	case "history", "ls":
		return runChannelRead(ctx, env, args[0], args[1:])
	}
	fmt.Fprintf(env.stderr, "bake channel: unknown subcommand %q (set, history, rollback, ls)\n", args[0])
	return exitUsage
}

func runChannelWrite(ctx context.Context, env *cliEnv, sub string, args []string) int {
	syn := "REG/REPO CHANNEL VERSION -sign-key K [-reason TEXT] [-by WHO]"
	nargs := 3
	if sub == "rollback" {
		syn, nargs = "REG/REPO CHANNEL -sign-key K [-reason TEXT] [-by WHO]", 2
	}
	c := newRegCmd(env, "channel "+sub, syn, "print the new record as JSON").
		withSignKey("the private `KEY` that signs the record (default $BAKE_SIGN_KEY)")
	reason := c.fs.String("reason", "", "why, recorded in the signed record")
	by := c.fs.String("by", "", "who, recorded in the signed record (default USER@host)")
	pos, code, ok := c.parse(args, nargs)
	if !ok {
		return code
	}
	key, err := c.signer("channel records are signed")
	if err != nil {
		return c.fail(exitUsage, err)
	}
	repo, err := c.open(pos[0])
	if err != nil {
		return c.fail(exitUsage, err)
	}
	o := registry.SetOptions{By: recordAuthor(*by, env.environ), Reason: *reason}
	var rec *registry.Record
	if sub == "set" {
		rec, err = repo.SetChannel(ctx, pos[1], pos[2], key, o)
	} else {
		rec, err = repo.Rollback(ctx, pos[1], key, o)
	}
	if err != nil {
		return c.fail(exitFailed, err)
	}
	if c.json() {
		writeJSON(env.stdout, rec)
		return exitOK
	}
	fmt.Fprintf(env.stdout, "%s:%s -> %s (%s), sequence %d\n", repo, rec.Channel, rec.Version, rec.VersionDigest, rec.Sequence)
	return exitOK
}

func runChannelRead(ctx context.Context, env *cliEnv, sub string, args []string) int {
	syn, nargs := "REG/REPO CHANNEL [-key PUB] [-json]", 2
	if sub == "ls" {
		syn, nargs = "REG/REPO [-key PUB] [-json]", 1
	}
	c := newRegCmd(env, "channel "+sub, syn, "print JSON").
		withKey("verify every record with this public key (`PUB`); without it records are shown unverified")
	pos, code, ok := c.parse(args, nargs)
	if !ok {
		return code
	}
	pub, err := c.pub()
	if err != nil {
		return c.fail(exitUsage, err)
	}
	repo, err := c.open(pos[0])
	if err != nil {
		return c.fail(exitUsage, err)
	}
	var recs []*registry.Record
	if sub == "ls" {
		recs, err = repo.Channels(ctx, pub)
	} else {
		recs, err = repo.History(ctx, pos[1], pub)
	}
	if err != nil {
		if len(recs) > 0 {
			printRecords(env, recs, pub != nil)
		}
		return c.fail(exitFailed, err)
	}
	if c.json() {
		if recs == nil {
			recs = []*registry.Record{}
		}
		writeJSON(env.stdout, recs)
		return exitOK
	}
	printRecords(env, recs, pub != nil)
	return exitOK
}

func printRecords(env *cliEnv, recs []*registry.Record, verified bool) {
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tSEQ\tVERSION\tTIME\tBY\tREASON")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Channel, r.Sequence, r.Version, r.Time.Format("2006-01-02 15:04:05Z07:00"), r.By, oneLine(r.Reason))
	}
	tw.Flush()
	if !verified {
		fmt.Fprintln(env.stderr, "bake channel: signatures not checked (give -key to verify them)")
	}
}
