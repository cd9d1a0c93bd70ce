package main

import (
	"context"
	"errors"
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
	c := newRegCmd(env, "revoke", revokeSynopsis, "print the revocation as JSON").
		withSignKey("the private `KEY` that signs the revocation (default $BAKE_SIGN_KEY)")
	reason := c.fs.String("reason", "", "why (required), recorded in the signed revocation")
	by := c.fs.String("by", "", "who, recorded in the signed revocation (default USER@host)")
	pos, code, ok := c.parse(args, 2)
	if !ok {
		return code
	}
	if *reason == "" {
		return c.fail(exitUsage, errors.New("-reason is required"))
	}
	key, err := c.signer("revocations are signed")
	if err != nil {
		return c.fail(exitUsage, err)
	}
	repo, err := c.open(pos[0])
	if err != nil {
		return c.fail(exitUsage, err)
	}
	rev, err := repo.Revoke(ctx, pos[1], key, registry.SetOptions{By: recordAuthor(*by, env.environ), Reason: *reason})
	if err != nil {
		return c.fail(exitFailed, err)
	}
	if c.json() {
		writeJSON(env.stdout, rev)
		return exitOK
	}
	fmt.Fprintf(env.stdout, "Revoked %s@%s (%s): %s\n", repo, rev.Version, rev.VersionDigest, rev.Reason)
	return exitOK
}
