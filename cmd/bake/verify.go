package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/bake-tool/bake/artifacts"
)

const verifySynopsis = `-key PUB BUNDLE [-artifact FILE]... [-policy POLICY] [-json] [-allow-unsigned] [-allow-failed]

Checks a run manifest (BUNDLE, the .sigstore.json bake build wrote): the
bundle and payload types, the signature by the public key PUB over the
DSSE PAE bytes, the statement and predicate types, and for each -artifact
that its sha256 is a subject of the manifest, made by a build that
succeeded; a file a failed or cancelled build left is refused, naming the
build, unless -allow-failed. The SBOMs the manifest names and the SLSA
provenance beside it are checked too (digest, signature, subjects). With
-policy, each rule of POLICY (CEL, see README "Policies") is evaluated on
the verified documents and printed PASS or FAIL. Prints what was verified,
or exactly what failed. Exit status: 0 verified (and every rule passed),
1 verification or a rule failed, 2 usage (a policy that does not parse).

Example:
  bake verify -key release.pub bake-manifest.sigstore.json -artifact output-qemu/disk.qcow2
  bake verify -key release.pub -policy release.policy.hcl bake-manifest.sigstore.json`

func runVerify(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("verify", verifySynopsis, env.stderr)
	keyPath := fs.String("key", "", "the signer's public key (`PUB`, PEM)")
	var files stringList
	fs.Var(&files, "artifact", "a `FILE` whose sha256 must be a subject (repeatable)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	allowUnsigned := fs.Bool("allow-unsigned", false, "accept a manifest written without a signing key (never with -key)")
	allowFailed := fs.Bool("allow-failed", false, "accept an -artifact that a failed or cancelled build left")
	policyPath := fs.String("policy", "", "evaluate the rules of this `POLICY` file (CEL) on the verified run")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	switch {
	case len(pos) != 1:
		fmt.Fprintln(env.stderr, "bake verify: give exactly one manifest bundle")
		fs.Usage()
		return exitUsage
	case *keyPath == "" && !*allowUnsigned:
		fmt.Fprintln(env.stderr, "bake verify: -key is required")
		fs.Usage()
		return exitUsage
	}
	bundlePath := pos[0]
	var pol *policyT
	if *policyPath != "" {
		var err error
		if pol, err = loadPolicy(*policyPath); err != nil {
			fmt.Fprintf(env.stderr, "bake verify: -policy: %s\n", err)
			return exitUsage
		}
	}

	fail := func(err error) int {
		if *asJSON {
			writeJSON(env.stdout, map[string]any{"verified": false, "bundle": bundlePath, "error": err.Error()})
		}
		fmt.Fprintf(env.stderr, "bake verify: %s: FAILED: %v\n", bundlePath, err)
		return exitFailed
	}
	var pub crypto.PublicKey
	if *keyPath != "" {
		data, err := os.ReadFile(*keyPath)
		if err != nil {
			return fail(fmt.Errorf("public key: %w", err))
		}
		if pub, err = artifacts.ParsePublicKey(data); err != nil {
			return fail(fmt.Errorf("public key %s: %w", *keyPath, err))
		}
	}
	bundle, err := os.ReadFile(bundlePath)
	if err != nil {
		return fail(err)
	}
	v, err := artifacts.Verify(bundle, pub, artifacts.VerifyOptions{AllowUnsigned: *allowUnsigned, AllowFailed: *allowFailed, Artifacts: files.values})
	if err != nil {
		return fail(err)
	}
	extra, err := verifyExtras(bundlePath, v, pub, *allowUnsigned, pol, *policyPath)
	if err != nil {
		return fail(err)
	}
	code := exitOK
	if !extra.PolicyOK {
		code = exitFailed
	}
	if *asJSON {
		writeJSON(env.stdout, map[string]any{
			"verified":      true,
			"bundle":        bundlePath,
			"signed":        v.Signed,
			"keyHint":       v.KeyHint,
			"predicateType": v.Statement.PredicateType,
			"subject":       v.Statement.Subject,
			"predicate":     v.Statement.Predicate,
			"artifacts":     nonNil(v.Artifacts),
			"sboms":         extra.SBOMs,
			"provenance":    extra.Provenance,
			"policy":        extra.Policy,
			"policyPassed":  extra.PolicyOK,
		})
		return code
	}
	printVerified(env.stdout, bundlePath, v)
	printExtras(env.stdout, extra)
	return code
}

func nonNil(a []artifacts.VerifiedArtifact) []artifacts.VerifiedArtifact {
	if a == nil {
		return []artifacts.VerifiedArtifact{}
	}
	return a
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// printVerified writes the human summary of a verified manifest.
func printVerified(w io.Writer, bundlePath string, v *artifacts.Verified) {
	p := v.Statement.Predicate
	fmt.Fprintf(w, "Verified %s\n", bundlePath)
	if v.Signed {
		fmt.Fprintf(w, "  signature:  OK (key %s)\n", v.KeyHint)
	} else {
		fmt.Fprintln(w, "  signature:  NONE: the manifest is unsigned (accepted with -allow-unsigned)")
	}
	fmt.Fprintf(w, "  predicate:  %s\n", v.Statement.PredicateType)
	fmt.Fprintf(w, "  run:        %s, %s, bake %s\n", p.Fingerprint, p.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), p.BakeVersion)
	if p.Bucket != "" {
		fmt.Fprintf(w, "  bucket:     %s\n", p.Bucket)
	}
	fmt.Fprintf(w, "  template:   %s (sha256 %s)\n", p.Template.Path, p.Template.SHA256)

	fmt.Fprintf(w, "\nBuilds (%d):\n", len(p.Builds))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, b := range p.Builds {
		status := string(b.Status)
		if b.Error != "" {
			status += ": " + oneLine(b.Error)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", b.Name, status)
		for _, it := range b.Artifacts {
			id := it.ExternalIdentifier
			if it.URI != "" && it.URI != id {
				id += " " + it.URI
			}
			if it.Region != "" {
				id += " (" + it.Region + ")"
			}
			fmt.Fprintf(tw, "    %s\t%s\n", id, it.Digest)
		}
	}
	tw.Flush()

	if len(v.Artifacts) > 0 {
		fmt.Fprintf(w, "\nArtifacts checked (%d):\n", len(v.Artifacts))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, a := range v.Artifacts {
			switch {
			case a.Status != "" && a.Status != artifacts.StatusSucceeded:
				fmt.Fprintf(tw, "  %s\tsha256 %s\tbuild %s %s, accepted with -allow-failed\n", a.Path, a.SHA256, a.Build, strings.ToUpper(string(a.Status)))
			case a.Build != "":
				fmt.Fprintf(tw, "  %s\tsha256 %s\tOK, subject %s, build %s (%s)\n", a.Path, a.SHA256, a.Subject, a.Build, a.Status)
			default:
				fmt.Fprintf(tw, "  %s\tsha256 %s\tOK, subject %s\n", a.Path, a.SHA256, a.Subject)
			}
		}
		tw.Flush()
	}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}
