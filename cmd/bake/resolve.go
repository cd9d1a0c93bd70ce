package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/policy"
	"github.com/bake-tool/bake/artifacts/registry"
)

// Exit codes of bake resolve beyond the common ones, so a deploy script
// can tell why it got nothing.
const (
	exitNotFound  = 3 // no such channel, version or repository
	exitRevoked   = 4 // the version is revoked
	exitBadSig    = 5 // a record or the version does not verify with the key
	exitNoBuild   = 6 // the version has no such build (or it failed)
	exitNoRegion  = 7 // the build has no AMI in that region
	exitStaleSeqn = 8 // the channel record is older than -min-sequence
	exitPolicy    = 9 // a -policy rule failed
)

const resolveSynopsis = `REG/REPO:CHANNEL|REG/REPO@VERSION -build NAME [-region R] -key PUB [-min-sequence N] [-policy POLICY] [-json]

Prints what a deployer needs of one build of the version a channel points
at (or of a named version): the AMI id in the region, the image reference
by digest, or the disk file and its sha256, one per line. On the way it
verifies the channel record's signature, channel and repository, the
version's signature and that it is not revoked, and with -min-sequence
that the channel record is not older than one seen before (a replayed
record). -policy evaluates a policy file (as bake verify -policy does) on
the version's signed run manifest and resolves nothing unless every rule
passes; the registry holds the manifest only, so sboms, packages and
provenance are empty there. -json prints the whole resolution, with the
record's sequence to remember.
Exit status: 0 resolved, 1 other failure (registry unreachable, refused
credentials), 2 usage, 3 not found, 4 revoked, 5 bad signature, 6 build not
in the version, 7 region not in the build, 8 channel record older than
-min-sequence, 9 a -policy rule failed.

Example:
  ami=$(bake resolve registry.example.com/golden/base:prod -build amazon-ebs.base -region eu-west-1 -key release.pub)`

func runResolve(ctx context.Context, env *cliEnv, args []string) int {
	c := newRegCmd(env, "resolve", resolveSynopsis, "print the resolution as JSON").
		withKey("the signer's public key (`PUB`, PEM)")
	build := c.fs.String("build", "", "the build, `type.name` (or name when unambiguous)")
	region := c.fs.String("region", "", "the AWS `region` of the AMI")
	minSeq := c.fs.Uint64("min-sequence", 0, "refuse a channel record with a lower sequence `N`")
	policyPath := c.fs.String("policy", "", "resolve only when every rule of this `POLICY` file passes on the version's manifest")
	pos, code, ok := c.parse(args, 1)
	if !ok {
		return code
	}
	var pol *policyT
	if *policyPath != "" {
		var err error
		if pol, err = loadPolicy(*policyPath); err != nil {
			return c.fail(exitUsage, fmt.Errorf("-policy: %w", err))
		}
	}
	switch {
	case *build == "":
		return c.fail(exitUsage, errors.New("-build is required"))
	case *c.keyPath == "":
		return c.fail(exitUsage, errors.New("-key is required: resolve verifies what it returns"))
	case *minSeq > 0 && !isChannelRef(pos[0]):
		return c.fail(exitUsage, errors.New("-min-sequence applies to a channel (REG/REPO:CHANNEL)"))
	}
	ref, err := registry.ParseRef(pos[0])
	if err != nil {
		return c.fail(exitUsage, err)
	}
	pub, err := c.pub()
	if err != nil {
		return c.fail(exitUsage, err)
	}
	repo, err := c.open(ref.Repository)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	res, err := repo.Resolve(ctx, ref, registry.ResolveOptions{Build: *build, Region: *region, Key: pub, MinSequence: *minSeq})
	if err != nil {
		code := resolveExit(err)
		if c.json() {
			writeJSON(env.stdout, map[string]any{"resolved": false, "ref": pos[0], "exitCode": code, "error": err.Error()})
		}
		return c.fail(code, err)
	}
	var results []policy.Result
	if pol != nil {
		bundle, _, err := repo.VersionBundle(ctx, res.Version)
		if err != nil {
			return c.fail(resolveExit(err), err)
		}
		v, err := artifacts.Verify(bundle, pub, artifacts.VerifyOptions{AllowFailed: true})
		if err != nil {
			return c.fail(exitBadSig, fmt.Errorf("version %s: %w", res.Version, err))
		}
		var passed bool
		if results, passed, err = evalPolicy(pol, v, nil, nil); err != nil {
			return c.fail(exitFailed, err)
		}
		if !passed {
			if c.json() {
				writeJSON(env.stdout, map[string]any{"resolved": false, "ref": pos[0], "exitCode": exitPolicy, "policy": results,
					"error": "policy " + *policyPath + ": " + policy.Summary(results)})
			} else {
				printPolicy(env.stderr, *policyPath, results)
			}
			return c.fail(exitPolicy, fmt.Errorf("version %s does not pass policy %s: %s", res.Version, *policyPath, policy.Summary(results)))
		}
	}
	if c.json() {
		if pol != nil {
			writeJSON(env.stdout, struct {
				*registry.Resolution
				Policy []policy.Result `json:"policy"`
			}{res, results})
			return exitOK
		}
		writeJSON(env.stdout, res)
		return exitOK
	}
	for _, a := range res.Artifacts {
		switch a.Kind {
		case "file":
			fmt.Fprintf(env.stdout, "%s sha256:%s\n", a.Ref, a.SHA256)
		default:
			fmt.Fprintln(env.stdout, a.Ref)
		}
	}
	where := "@" + res.Version
	if res.Channel != "" {
		where = fmt.Sprintf(":%s (sequence %d) -> %s", res.Channel, res.Sequence, res.Version)
	}
	if pol != nil {
		where += ", policy " + *policyPath + " passed"
	}
	fmt.Fprintf(env.stderr, "bake resolve: %s%s, build %s, verified\n", res.Repository, where, res.Build)
	return exitOK
}

func isChannelRef(s string) bool {
	ref, err := registry.ParseRef(s)
	return err == nil && ref.Channel != ""
}

// resolveExit maps a resolve error to its exit code.
func resolveExit(err error) int {
	for _, c := range []struct {
		err  error
		code int
	}{
		{registry.ErrRevoked, exitRevoked},
		{registry.ErrBadSignature, exitBadSig},
		{registry.ErrStale, exitStaleSeqn},
		{registry.ErrNoRegion, exitNoRegion},
		{registry.ErrNoBuild, exitNoBuild},
		{registry.ErrNotFound, exitNotFound},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return exitFailed
}
