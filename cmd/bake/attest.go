package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/registry"
)

const attestSynopsis = `[-key PUB] [-image REG/REPO@DIGEST] [-json] MANIFEST
       bake attest -verify -key PUB [-json] REG/REPO@DIGEST

Attaches a signed run manifest to the images the run pushed (docker-push),
so that whoever pulls an image can check what built it: the manifest's
DSSE envelope goes where cosign looks for attestations (an image manifest
tagged sha256-<hex>.att in the image's repository, one layer per
envelope), and, where the registry has the OCI 1.1 referrers API, the
whole Sigstore bundle is stored as a referrer of the image too. The
statement lists each image's digest as a subject, so

  cosign verify-attestation --key bake.pub --insecure-ignore-tlog \
    --type https://bake.dev/manifest/v1 REG/REPO@DIGEST

accepts it. bake build does this by default when a run pushes images and
signs its manifest; bake attest is for a run whose attach failed, or a
manifest signed later. -image limits it to one image; -key checks the
manifest's signature first. Attaching again changes nothing.

-verify reads an image's attestations back (cosign's tag and the
referrers) and checks each: the signature by -key, the blob digests, and
that the statement is about that image.
Exit status: 0 done or verified, 1 failed, 2 usage, 3 no attestation
(-verify), 5 an attestation does not verify.

Example:
  bake attest -key bake.pub bake-manifest.sigstore.json`

func runAttest(ctx context.Context, env *cliEnv, args []string) int {
	c := newRegCmd(env, "attest", attestSynopsis, "print JSON").
		withKey("the signer's public key (`PUB`, PEM): checks the manifest first, and is required with -verify")
	verify := c.fs.Bool("verify", false, "verify the attestations of an image (REG/REPO@DIGEST) instead of attaching")
	image := c.fs.String("image", "", "attach only to this pushed image (`REG/REPO@DIGEST`)")
	pos, code, ok := c.parse(args, 1)
	if !ok {
		return code
	}
	pub, err := c.pub()
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if *verify {
		if pub == nil {
			return c.fail(exitUsage, errors.New("-verify needs -key"))
		}
		atts, err := registry.VerifyAttestations(ctx, pos[0], pub, registryOptions())
		switch {
		case errors.Is(err, registry.ErrBadSignature):
			return c.fail(exitBadSig, err)
		case errors.Is(err, registry.ErrNoAttestation):
			return c.fail(exitNotFound, err)
		case err != nil:
			return c.fail(exitFailed, err)
		}
		if c.json() {
			writeJSON(env.stdout, map[string]any{"image": pos[0], "attestations": atts})
			return exitOK
		}
		for _, a := range atts {
			fmt.Fprintf(env.stdout, "%s: %s %s, run %s, verified\n", pos[0], a.Source, a.Digest, a.RunID)
		}
		return exitOK
	}
	bundle, err := os.ReadFile(pos[0])
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if pub != nil {
		if _, err := artifacts.Verify(bundle, pub, artifacts.VerifyOptions{}); err != nil {
			return c.fail(exitBadSig, err)
		}
	}
	images, err := registry.PushedImages(bundle)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if *image != "" {
		if !containsString(images, *image) {
			return c.fail(exitUsage, fmt.Errorf("%s did not push %s (it pushed: %s)", pos[0], *image, strings.Join(images, ", ")))
		}
		images = []string{*image}
	}
	if len(images) == 0 {
		return c.fail(exitUsage, fmt.Errorf("%s records no pushed image (docker-push) to attach it to", pos[0]))
	}
	done, errs := attachAll(ctx, bundle, images)
	if c.json() {
		out := map[string]any{"attached": done}
		if errs != nil {
			out["error"] = errs.Error()
		}
		writeJSON(env.stdout, out)
	} else {
		printAttached(env.stdout, done)
	}
	if errs != nil {
		return c.fail(exitFailed, errs)
	}
	return exitOK
}

// attachAll attaches bundle to each image, going on after a failure.
func attachAll(ctx context.Context, bundle []byte, images []string) ([]*registry.Attachment, error) {
	var done []*registry.Attachment
	var errs []error
	for _, img := range images {
		a, err := registry.Attach(ctx, img, bundle, registryOptions())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, a)
	}
	return done, errors.Join(errs...)
}

func printAttached(w interface{ Write([]byte) (int, error) }, done []*registry.Attachment) {
	for _, a := range done {
		state := "attached"
		if !a.Added {
			state = "already attached"
		}
		where := "tag " + a.Tag
		if a.Referrer != "" {
			where += ", referrer " + a.Referrer
		}
		fmt.Fprintf(w, "==> attestation %s: %s (%s)\n", state, a.Image, where)
	}
}

// attestRun is bake build's attach step: once the signed run manifest is
// written, its statement goes to every image the run pushed. A failure is
// reported, with the command that retries it, and leaves the run's exit
// status alone: the images and the signed manifest exist, only the copy
// next to the images is missing.
func attestRun(ctx context.Context, env *cliEnv, manifest string, jsonOut bool) {
	bundle, err := os.ReadFile(manifest)
	if err != nil {
		fmt.Fprintf(env.stderr, "bake build: attest: %s\n", err)
		return
	}
	images, err := registry.PushedImages(bundle)
	if err != nil || len(images) == 0 {
		return
	}
	if ctx.Err() != nil {
		fmt.Fprintf(env.stderr, "bake build: attest: interrupted, %d pushed image(s) not attested; run: bake attest %s\n", len(images), manifest)
		return
	}
	done, err := attachAll(ctx, bundle, images)
	out := env.stdout
	if jsonOut {
		out = env.stderr
	}
	printAttached(out, done)
	if err != nil {
		fmt.Fprintf(env.stderr, "bake build: attest: WARNING: %d of %d pushed image(s) not attested (the run itself succeeded): %s\nbake build: attest: retry with: bake attest %s\n",
			len(images)-len(done), len(images), oneLine(err.Error()), manifest)
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
