package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/bake-tool/bake/artifacts/registry"
)

const revokeSynopsis = `REG/REPO VERSION -sign-key K -reason TEXT [-by WHO] [-json]

Records, signed, that VERSION must no longer be deployed: bake resolve
refuses it from then on, by name and through any channel that points at
it, and channel set refuses to point a channel at it. The record is
stored as an OCI artifact tagged revoked-VERSION. The signing key is
-sign-key or BAKE_SIGN_KEY.
Exit status: 0 revoked (or already), 1 failed, 2 usage.

Example:
  bake revoke registry.example.com/golden/base 2026.11.30 -sign-key release.key -reason "CVE-2026-1234 in openssl"`

func runRevoke(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("revoke", revokeSynopsis, env.stderr)
	keyPath := fs.String("sign-key", "", "the private `KEY` that signs the revocation (default $BAKE_SIGN_KEY)")
	reason := fs.String("reason", "", "why (required), recorded in the signed revocation")
	by := fs.String("by", "", "who, recorded in the signed revocation (default USER@host)")
	asJSON := fs.Bool("json", false, "print the revocation as JSON")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	fail := cliFail(env, "revoke")
	path := signKeyPath(*keyPath, env.environ)
	switch {
	case len(pos) != 2:
		fs.Usage()
		return exitUsage
	case path == "":
		return fail(exitUsage, errors.New("-sign-key (or BAKE_SIGN_KEY) is required: revocations are signed"))
	case *reason == "":
		return fail(exitUsage, errors.New("-reason is required"))
	}
	key, err := loadSigner(path, env.environ)
	if err != nil {
		return fail(exitUsage, err)
	}
	repo, err := registry.Open(pos[0], registry.Options{})
	if err != nil {
		return fail(exitUsage, err)
	}
	rev, err := repo.Revoke(ctx, pos[1], key, registry.SetOptions{By: recordAuthor(*by, env.environ), Reason: *reason})
	if err != nil {
		return fail(exitFailed, err)
	}
	if *asJSON {
		writeJSON(env.stdout, rev)
		return exitOK
	}
	fmt.Fprintf(env.stdout, "Revoked %s@%s (%s): %s\n", repo, rev.Version, rev.VersionDigest, rev.Reason)
	return exitOK
}
