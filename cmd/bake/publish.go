package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/registry"
)

const publishSynopsis = `-to REG/REPO [-version V] [-allow-unsigned] [-key PUB] [-json] MANIFEST

Stores a signed run manifest (the .sigstore.json bake build wrote) in an
OCI registry as a version: an OCI 1.1 artifact whose layer is the Sigstore
bundle, tagged with the version name (default: the run id). Versions are
immutable: the same name with other content is refused, the same content
again does nothing. An unsigned manifest is refused unless
-allow-unsigned. Credentials come from docker login (DOCKER_CONFIG).
Exit status: 0 published (or already there), 1 refused or failed, 2 usage.

Example:
  bake publish -to registry.example.com/golden/base bake-manifest.sigstore.json`

func runPublish(ctx context.Context, env *cliEnv, args []string) int {
	c := newRegCmd(env, "publish", publishSynopsis, "print the version as JSON").
		withKey("check the manifest's signature with this public key (`PUB`) first")
	to := c.fs.String("to", "", "the repository (`REG/REPO`) to publish into")
	version := c.fs.String("version", "", "the version `name` (default: the run id)")
	allowUnsigned := c.fs.Bool("allow-unsigned", false, "publish a manifest written without a signing key")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *to == "" {
		fmt.Fprintln(env.stderr, "bake publish: give -to REG/REPO and exactly one manifest")
		c.fs.Usage()
		return exitUsage
	}
	pub, err := c.pub()
	if err != nil {
		return c.fail(exitUsage, err)
	}
	bundle, err := os.ReadFile(pos[0])
	if err != nil {
		return c.fail(exitUsage, err)
	}
	repo, err := c.open(*to)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	v, err := repo.PublishRetrying(ctx, bundle, registry.PublishOptions{Version: *version, AllowUnsigned: *allowUnsigned, Key: pub}, publishRetry(env, "bake publish"))
	if err != nil {
		return c.fail(exitFailed, err)
	}
	if c.json() {
		writeJSON(env.stdout, map[string]any{"repository": repo.String(), "version": v, "published": v.Published})
		return exitOK
	}
	printPublished(env, repo, v)
	return exitOK
}

func printPublished(env *cliEnv, repo *registry.Repo, v *registry.Version) {
	if v.Published {
		fmt.Fprintf(env.stdout, "Published %s:%s (%s)\n", repo, v.Name, v.Digest)
	} else {
		fmt.Fprintf(env.stdout, "%s:%s already holds this manifest (%s): nothing to do\n", repo, v.Name, v.Digest)
	}
}

// cliFail returns a function that prints "bake VERB: err" and returns
// code.
func cliFail(env *cliEnv, verb string) func(code int, err error) int {
	return func(code int, err error) int {
		fmt.Fprintf(env.stderr, "bake %s: %v\n", verb, err)
		return code
	}
}

// loadPublicKey reads a PUBLIC KEY PEM file.
func loadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	pub, err := artifacts.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return pub, nil
}

// recordAuthor is who a channel record or revocation names: -by, else
// USER@host.
func recordAuthor(flagValue string, environ []string) string {
	if flagValue != "" {
		return flagValue
	}
	user, _ := environValue(environ, "USER")
	host, _ := os.Hostname()
	switch {
	case user != "" && host != "":
		return user + "@" + host
	case user != "":
		return user
	}
	return host
}

// checkPublish checks bake build's -publish before any build runs: the
// repository name, and that there will be a signed manifest to publish.
func checkPublish(to, manifest string, signer crypto.Signer) error {
	switch {
	case to == "":
		return nil
	case manifest == "":
		return errors.New("needs the run manifest (-manifest is empty)")
	case signer == nil:
		return errors.New("needs -sign-key (or BAKE_SIGN_KEY): only signed manifests are published from a build")
	}
	_, err := registry.Open(to, registryOptions())
	return err
}

// publishRun publishes the run manifest bake build wrote, when the run
// (exit code so far) succeeded, and returns the exit code it adds.
func publishRun(ctx context.Context, env *cliEnv, to, version, manifest string, code int) int {
	if code != exitOK {
		fmt.Fprintf(env.stderr, "bake build: -publish: not published to %s: the run did not succeed\n", to)
		return exitOK
	}
	bundle, err := os.ReadFile(manifest)
	if err != nil {
		fmt.Fprintf(env.stderr, "bake build: -publish: %s\n", err)
		return exitFailed
	}
	repo, err := registry.Open(to, registryOptions())
	if err == nil {
		var v *registry.Version
		if v, err = repo.PublishRetrying(ctx, bundle, registry.PublishOptions{Version: version}, publishRetry(env, "bake build: -publish")); err == nil {
			printPublished(env.withStdout(env.stderr), repo, v)
			return exitOK
		}
	}
	fmt.Fprintf(env.stderr, "bake build: -publish: %s\n", err)
	return exitFailed
}

// publishRetry is registry.DefaultRetry telling stderr, after prefix, of
// each attempt that failed and is tried again.
func publishRetry(env *cliEnv, prefix string) registry.Retry {
	r := registry.DefaultRetry
	r.OnRetry = func(attempt, attempts int, err error, wait time.Duration) {
		fmt.Fprintf(env.stderr, "%s: attempt %d of %d failed: %s; trying again in %s\n", prefix, attempt, attempts, err, wait)
	}
	return r
}
