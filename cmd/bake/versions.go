package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/bake-tool/bake/artifacts/registry"
)

const versionsSynopsis = `REG/REPO [-key PUB] [-json]

Lists the versions published in REG/REPO, oldest first, each with the
channels that point at it and whether it is revoked (and why). With -key
every channel record and revocation is verified (one that does not verify
fails the listing); without, they are read unchecked.
Exit status: 0 listed, 1 failed, 2 usage.

Example:
  bake versions registry.example.com/golden/base -key release.pub`

func runVersions(ctx context.Context, env *cliEnv, args []string) int {
	c := newRegCmd(env, "versions", versionsSynopsis, "print the versions as JSON").
		withKey("verify channel records and revocations with this public key (`PUB`)")
	pos, code, ok := c.parse(args, 1)
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
	vs, err := repo.Versions(ctx, pub)
	if err != nil {
		return c.fail(exitFailed, err)
	}
	if c.json() {
		if vs == nil {
			vs = []registry.VersionInfo{}
		}
		writeJSON(env.stdout, vs)
		return exitOK
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCREATED\tDIGEST\tCHANNELS\tREVOKED")
	for _, v := range vs {
		created := "-"
		if !v.Created.IsZero() {
			created = v.Created.Format("2006-01-02 15:04Z07:00")
		}
		revoked := ""
		if v.Revoked {
			revoked = "REVOKED: " + oneLine(v.RevokedWhy)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, created, v.Digest, strings.Join(v.Channels, ","), revoked)
	}
	tw.Flush()
	if pub == nil {
		fmt.Fprintln(env.stderr, "bake versions: channel and revocation marks not verified (give -key to verify them)")
	}
	return exitOK
}
