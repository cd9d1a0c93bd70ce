package main

import (
	"context"
	"crypto"
	"errors"
	"flag"
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
	fs := newFlagSet("versions", versionsSynopsis, env.stderr)
	keyPath := fs.String("key", "", "verify channel records and revocations with this public key (`PUB`)")
	asJSON := fs.Bool("json", false, "print the versions as JSON")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	fail := cliFail(env, "versions")
	var pub crypto.PublicKey
	if *keyPath != "" {
		if pub, err = loadPublicKey(*keyPath); err != nil {
			return fail(exitUsage, err)
		}
	}
	repo, err := registry.Open(pos[0], registry.Options{})
	if err != nil {
		return fail(exitUsage, err)
	}
	vs, err := repo.Versions(ctx, pub)
	if err != nil {
		return fail(exitFailed, err)
	}
	if *asJSON {
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
