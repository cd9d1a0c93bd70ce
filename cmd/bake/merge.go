package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/bake-tool/bake/artifacts"
)

const manifestSynopsis = `merge -key PUB -sign-key K -o OUT [-run-id ID] PART...

Joins the run manifests that CI shards wrote (bake build -only 'docker.*'
on one machine, -only 'qemu.*' on another, …) into one signed run
manifest, to publish as one version. Each part is verified with PUB first;
the parts must come from the same template, bucket and variables, and no
build may be in two parts. The merged run id is -run-id, or one derived
from the parts' run ids; the parts' ids are kept in the label
bake.dev/merged-from. OUT is written atomically.
Exit status: 0 merged, 1 a part did not verify or the parts conflict,
2 usage.

Example:
  bake manifest merge -key release.pub -sign-key release.key -o run.sigstore.json docker.json qemu.json ami.json
  bake publish -to registry.example.com/golden/base -version nightly-2026-12-01 run.sigstore.json`

func runManifest(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] != "merge" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintf(env.stdout, "Usage: bake manifest %s\n", manifestSynopsis)
			return exitOK
		}
		fmt.Fprintf(env.stderr, "Usage: bake manifest %s\n", manifestSynopsis)
		return exitUsage
	}
	fs := newFlagSet("manifest merge", "-key PUB -sign-key K -o OUT [-run-id ID] PART...", env.stderr)
	keyPath := fs.String("key", "", "the public key (`PUB`) every part must verify with")
	signKey := fs.String("sign-key", "", "the private `KEY` that signs the merged manifest (default $BAKE_SIGN_KEY)")
	outPath := fs.String("o", "", "where to write the merged manifest (`OUT`)")
	runID := fs.String("run-id", "", "the merged run's `id` (default: derived from the parts')")
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	fail := cliFail(env, "manifest merge")
	path := signKeyPath(*signKey, env.environ)
	switch {
	case len(pos) < 2:
		return fail(exitUsage, errors.New("give at least two run manifests to merge"))
	case *keyPath == "":
		return fail(exitUsage, errors.New("-key is required: every part is verified"))
	case path == "":
		return fail(exitUsage, errors.New("-sign-key (or BAKE_SIGN_KEY) is required: the merged manifest is signed"))
	case *outPath == "":
		return fail(exitUsage, errors.New("-o is required"))
	}
	pub, err := loadPublicKey(*keyPath)
	if err != nil {
		return fail(exitUsage, err)
	}
	key, err := loadSigner(path, env.environ)
	if err != nil {
		return fail(exitUsage, err)
	}
	var parts [][]byte
	for _, p := range pos {
		b, err := os.ReadFile(p)
		if err != nil {
			return fail(exitUsage, err)
		}
		parts = append(parts, b)
	}
	st, err := artifacts.MergeRunManifests(parts, pub, artifacts.MergeOptions{RunID: *runID})
	if err != nil {
		return fail(exitFailed, err)
	}
	if err := artifacts.WriteRunManifest(*outPath, st, key); err != nil {
		return fail(exitFailed, err)
	}
	fmt.Fprintf(env.stdout, "Merged %d run manifests (%d builds) into %s, run %s\n", len(parts), len(st.Predicate.Builds), *outPath, st.Predicate.Fingerprint)
	return exitOK
}
