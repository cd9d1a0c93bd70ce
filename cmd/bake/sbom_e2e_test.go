package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/provenance"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// TestSBOMProvenancePolicyE2E builds from a template in a real git
// checkout: docker.app commits an image from which a provisioner purged a
// package, docker.nodb exports a tar of a machine whose dpkg database was
// removed. It checks what a user would: the SBOM lists exactly what
// dpkg-query -W lists in the built image; the machine without a database
// gets an SBOM that says so and its build succeeds; the provenance names
// the base image by digest, the script's digest and the checkout's commit
// (clean) with its subject as the reason; bake verify accepts the run,
// passes a policy that holds and fails one that does not, and refuses a
// policy with a syntax error at its line and column; cosign (when built
// by scripts/cosign.sh) accepts the SBOM and provenance statements.
func TestSBOMProvenancePolicyE2E(t *testing.T) {
	requireDocker(t)
	cli := testenv.Docker(t, testenv.BaseImage())
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not installed: %v (scripts/setup.sh installs it)", err)
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	tarPath := filepath.Join(repo, "out", "nodb.tar")
	files := map[string]string{
		".gitignore": "out/\n",
		"setup.sh":   "dpkg --purge --force-all ca-certificates >/dev/null 2>&1\necho provisioned > /etc/bake-sbom\n",
		"template.pkr.hcl": `
source "docker" "app" {
  image  = "` + testenv.BaseImage() + `"
  pull   = false
  commit = true
}

source "docker" "nodb" {
  image       = "` + testenv.BaseImage() + `"
  pull        = false
  export_path = "` + tarPath + `"
}

build {
  sources = ["source.docker.app", "source.docker.nodb"]

  provisioner "shell" {
    only   = ["docker.app"]
    script = "${path.root}/setup.sh"
  }

  provisioner "shell" {
    only   = ["docker.nodb"]
    inline = ["rm /var/lib/dpkg/status"]
  }
}
`,
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repo, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=Release Bot", "-c", "user.email=bot@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("remote", "add", "origin", "https://ci-bot:s3cr3t-token@git.example.com/images/app.git")
	git("add", ".")
	git("commit", "-q", "-m", "app image: drop ca-certificates")
	commit := git("rev-parse", "HEAD")
	if err := os.MkdirAll(filepath.Join(repo, "out"), 0o755); err != nil {
		t.Fatal(err)
	}

	keyBase := filepath.Join(dir, "signer")
	if code, _, stderr := bakeRun(t, nil, "keygen", "-out", keyBase); code != exitOK {
		t.Fatalf("keygen: %s", stderr)
	}
	pub := keyBase + ".pub"
	manifest := filepath.Join(repo, "out", "m.sigstore.json")
	environ := append(os.Environ(), "BAKE_NO_CACHE=1", "GITHUB_ACTIONS=", "GITLAB_CI=")
	code, stdout, stderr := bakeRun(t, environ, "build", "-json", "-sign-key", keyBase+".key", "-manifest", manifest, repo)
	evs := parseEvents(t, stdout)
	runID := runIDOf(t, evs)
	afterRun(t, cli, runID)
	run := dockerRun{code: code, events: evs, stderr: stderr, runID: runID, manifest: manifest}
	run.mustSucceed(t)

	// The machine without a database: a warning, and the build went on.
	warned := false
	for _, e := range evs {
		if e.Build == "docker.nodb" && strings.Contains(e.Message, "no package database found") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning about docker.nodb's missing package database")
	}

	// docker.app's SBOM against dpkg-query -W in the built image.
	img := run.artifact(t, "docker.app", "docker").ID
	want := dpkgSet(runInImage(t, cli, img, []string{"dpkg-query", "-W"}))
	code, listed, serr := bakeRun(t, nil, "sbom", manifest, "-build", "docker.app", "-key", pub, "-packages")
	if code != exitOK {
		t.Fatalf("bake sbom: exit %d: %s", code, serr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(listed), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || !strings.HasPrefix(f[2], "pkg:deb/debian/") || !strings.Contains(f[2], "@") {
			t.Fatalf("bake sbom -packages line %q: want NAME VERSION PURL", l)
		}
		got = append(got, f[0]+" "+f[1])
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("SBOM packages differ from dpkg-query -W in the image:\nSBOM (%d):\n%s\ndpkg-query (%d):\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	if len(want) < 50 || strings.Contains(strings.Join(got, "\n"), "ca-certificates ") {
		t.Errorf("SBOM of %d packages, with ca-certificates purged: %v", len(got), got)
	}
	code, doc, _ := bakeRun(t, nil, "sbom", manifest, "-build", "docker.app", "-key", pub)
	if code != exitOK || !strings.Contains(doc, `"spdxVersion": "SPDX-2.3"`) {
		t.Errorf("bake sbom: exit %d, document:\n%.300s", code, doc)
	}

	// docker.nodb's SBOM says there was no database.
	code, listed, serr = bakeRun(t, nil, "sbom", manifest, "-build", "docker.nodb", "-key", pub, "-packages")
	if code != exitOK || strings.TrimSpace(listed) != "" || !strings.Contains(serr, "no package database found") {
		t.Errorf("docker.nodb SBOM: exit %d, packages %q, notes %q", code, listed, serr)
	}

	// The manifest records each SBOM's digest; the SBOM statements and the
	// provenance are signed and about the build's subjects.
	stmt := run.statementSigned(t, pub)
	for _, b := range stmt.Predicate.Builds {
		if b.SBOM == nil || b.SBOM.PredicateType != artifacts.PredicateTypeSPDX {
			t.Fatalf("build %s: sbom entry %+v", b.Name, b.SBOM)
		}
		data, err := os.ReadFile(filepath.Join(filepath.Dir(manifest), b.SBOM.Path))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256Hex(data); got != b.SBOM.SHA256 {
			t.Errorf("build %s: SBOM sha256 %s, manifest says %s", b.Name, got, b.SBOM.SHA256)
		}
	}

	// Provenance: base image by digest, the script, the clean checkout.
	pb, err := os.ReadFile(provenancePath(manifest))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := readPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	att, signed, err := artifacts.VerifyAttestation(pb, pk, artifacts.PredicateTypeSLSAProvenanceV1, false)
	if err != nil || !signed {
		t.Fatalf("provenance: signed %v, %v", signed, err)
	}
	var prov provenance.Predicate
	if err := json.Unmarshal(att.Predicate, &prov); err != nil {
		t.Fatal(err)
	}
	base, err := cli.ImageInspect(context.Background(), testenv.BaseImage())
	if err != nil {
		t.Fatal(err)
	}
	script, _, _ := artifacts.FileSHA256(filepath.Join(repo, "setup.sh"))
	var haveBase, haveScript, haveGit bool
	for _, d := range prov.BuildDefinition.ResolvedDependencies {
		switch {
		case d.Name == "base-image" && d.URI == testenv.BaseImage() && "sha256:"+d.Digest["sha256"] == base.ID:
			haveBase = true
		case strings.HasSuffix(d.URI, "/setup.sh") && d.Digest["sha256"] == script:
			haveScript = true
		case d.Digest["gitCommit"] == commit && d.URI == "git+https://git.example.com/images/app.git":
			haveGit = true
		}
	}
	if !haveBase || !haveScript || !haveGit {
		t.Errorf("resolvedDependencies lack base image %s (%v), setup.sh %s (%v), commit %s (%v): %+v",
			base.ID, haveBase, script, haveScript, commit, haveGit, prov.BuildDefinition.ResolvedDependencies)
	}
	ep := prov.BuildDefinition.ExternalParameters
	if ep.Source == nil || ep.Source.Commit != commit || ep.Source.Dirty {
		t.Errorf("source = %+v, want commit %s, clean (the outputs are ignored)", ep.Source, commit)
	}
	if ep.Audit.Reason != "app image: drop ca-certificates" || ep.Audit.ReasonSource != "git-commit" || ep.Audit.User == "" || ep.Audit.Host == "" {
		t.Errorf("audit = %+v", ep.Audit)
	}
	if strings.Contains(string(pb), "s3cr3t") {
		t.Errorf("the remote URL's token is in the provenance")
	}
	if prov.RunDetails.Metadata.InvocationID != runID || prov.RunDetails.Builder.ID != provenance.BuilderID {
		t.Errorf("runDetails = %+v", prov.RunDetails)
	}

	// bake verify with a policy that holds and with one that does not.
	pass := filepath.Join(dir, "pass.hcl")
	os.WriteFile(pass, []byte(`
rule "builds-succeeded" {
  expr = "builds.all(b, b.status == 'succeeded')"
}
rule "every-build-has-an-sbom" {
  expr = "builds.all(b, has(b.sbom) && b.name in sboms)"
}
rule "no-telnetd-no-old-bash" {
  expr = "!packages.exists(p, p.name == 'telnetd' || (p.name == 'bash' && deb_version_matches(p.version, '<< 5.0')))"
}
rule "base-from-local-registry" {
  expr = "builds.all(b, image_registry(b.parent.ref) == 'bake.local')"
}
rule "clean-tree" {
  expr = "!provenance.buildDefinition.externalParameters.source.dirty"
}
rule "signed-this-month" {
  expr = "signature.signed && now - signature.signedAt < duration('720h')"
}
`), 0o644)
	code, vout, verr := bakeRun(t, nil, "verify", "-key", pub, "-policy", pass, "-artifact", tarPath, manifest)
	if code != exitOK || strings.Count(vout, "  PASS  ") != 6 || !strings.Contains(vout, "all 6 rule(s) passed") {
		t.Errorf("verify with a passing policy: exit %d\n%s%s", code, vout, verr)
	}
	fail := filepath.Join(dir, "fail.hcl")
	os.WriteFile(fail, []byte(`
rule "builds-succeeded" {
  expr = "builds.all(b, b.status == 'succeeded')"
}
rule "no-bash-5" {
  description = "deny bash 5.x"
  expr        = "!packages.exists(p, p.name == 'bash' && deb_version_matches(p.version, '>= 5.0, << 6'))"
}
rule "every-build-has-packages" {
  expr = "builds.all(b, b.sbom.packages > 0)"
}
`), 0o644)
	code, vout, verr = bakeRun(t, nil, "verify", "-key", pub, "-policy", fail, manifest)
	if code != exitFailed || !strings.Contains(vout, "FAIL  no-bash-5") || !strings.Contains(vout, "FAIL  every-build-has-packages") ||
		!strings.Contains(vout, "PASS  builds-succeeded") || !strings.Contains(vout, "2 of 3 rule(s) failed") {
		t.Errorf("verify with a failing policy: exit %d\n%s%s", code, vout, verr)
	}
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("rule \"ok\" {\n  expr = \"true\"\n}\nrule \"broken\" {\n  expr = \"builds.all(b, b.status = 'x')\"\n}\n"), 0o644)
	code, _, verr = bakeRun(t, nil, "verify", "-key", pub, "-policy", bad, manifest)
	if code != exitUsage || !strings.Contains(verr, bad+":5:") {
		t.Errorf("verify with a broken policy: exit %d, stderr %q, want exit 2 and %s:5:COL", code, verr, bad)
	}

	// A changed SBOM is caught by verify.
	sbomFile := filepath.Join(filepath.Dir(manifest), stmt.Predicate.Builds[0].SBOM.Path)
	orig, _ := os.ReadFile(sbomFile)
	os.WriteFile(sbomFile, []byte(strings.Replace(string(orig), "bash", "bosh", 1)), 0o644)
	code, _, verr = bakeRun(t, nil, "verify", "-key", pub, manifest)
	if code != exitFailed || !strings.Contains(verr, "it was changed") {
		t.Errorf("verify of a changed SBOM: exit %d, %s", code, verr)
	}
	os.WriteFile(sbomFile, orig, 0o644)

	// cosign, when scripts/cosign.sh built it.
	cosign := filepath.Join(bakeFixtureCache(), "cosign", "cosign")
	if _, err := os.Stat(cosign); err != nil {
		t.Logf("cosign not built (scripts/cosign.sh): only bake's verifier checked the statements")
		return
	}
	root := filepath.Join(dir, "root.json")
	os.WriteFile(root, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644)
	nodb := stmt.Predicate.Builds[1]
	for _, c := range []struct{ typ, bundle string }{
		{"spdxjson", filepath.Join(filepath.Dir(manifest), nodb.SBOM.Bundle)},
		{"slsaprovenance1", provenancePath(manifest)},
	} {
		out, err := exec.Command(cosign, "verify-blob-attestation", "--key", pub, "--bundle", c.bundle, "--new-bundle-format",
			"--trusted-root", root, "--insecure-ignore-tlog", "--type", c.typ, tarPath).CombinedOutput()
		if err != nil {
			t.Errorf("cosign verify-blob-attestation --type %s: %v\n%s", c.typ, err, out)
		}
	}
}

// dpkgSet turns dpkg-query -W output into sorted "name version" lines,
// the architecture qualifier (name:amd64) taken off.
func dpkgSet(out string) []string {
	var set []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		name, ver, _ := strings.Cut(l, "\t")
		name, _, _ = strings.Cut(name, ":")
		set = append(set, name+" "+ver)
	}
	sort.Strings(set)
	return set
}

func bakeFixtureCache() string {
	if d := os.Getenv("FIXTURES"); d != "" {
		return d
	}
	return "/var/cache/bake-fixtures"
}

func sha256Hex(b []byte) string { return provenance.SHA256(string(b)) }

// statementSigned reads the run manifest, checking its signature with
// the public key at pub.
func (r dockerRun) statementSigned(t *testing.T, pub string) *artifacts.Statement {
	t.Helper()
	data, err := os.ReadFile(r.manifest)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := readPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := artifacts.Verify(data, pk, artifacts.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return v.Statement
}
