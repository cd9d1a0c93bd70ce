package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// testRepo returns a fresh repository on the loopback registry
// scripts/setup.sh starts (Debian's docker-registry, distribution 2.8).
func testRepo(t *testing.T) string {
	t.Helper()
	addr := testenv.RegistryAddr()
	resp, err := http.Get("http://" + addr + "/v2/")
	if err != nil {
		t.Fatalf("the test registry at %s does not answer (start it with scripts/setup.sh): %v", addr, err)
	}
	resp.Body.Close()
	var b [6]byte
	rand.Read(b[:])
	return addr + "/bake-test/cli-" + hex.EncodeToString(b[:])
}

// TestPublishChannelResolveCLI is the deployer's story through the CLI on
// the real registry: two docker runs (one published by bake publish, one
// by bake build -publish), prod set to each, resolve, rollback, resolve,
// revoke, and resolve fails with the revoked exit code.
func TestPublishChannelResolveCLI(t *testing.T) {
	requireDocker(t)
	dir := t.TempDir()
	keyBase := filepath.Join(dir, "release")
	if code, _, stderr := bakeRun(t, nil, "keygen", "-out", keyBase); code != exitOK {
		t.Fatalf("keygen: %s", stderr)
	}
	otherBase := filepath.Join(dir, "other")
	if code, _, stderr := bakeRun(t, nil, "keygen", "-out", otherBase); code != exitOK {
		t.Fatalf("keygen: %s", stderr)
	}
	key, pub := keyBase+".key", keyBase+".pub"
	repo := testRepo(t)

	tarPath := filepath.Join(dir, "out", "rootfs.tar")
	tpl := writeTemplate(t, `
source "docker" "export" {
  image       = "bake.local/debian:bookworm"
  pull        = false
  export_path = "`+tarPath+`"
}
build {
  sources = ["source.docker.export"]
  provisioner "shell" {
    inline = ["date +%s%N > /etc/bake-run"]
  }
}
`)
	m1 := filepath.Join(dir, "run1.sigstore.json")
	if code, out, errOut := bakeRun(t, os.Environ(), "build", "-color=false", "-sign-key", key, "-manifest", m1, tpl); code != exitOK {
		t.Fatalf("build 1: exit %d\n%s%s", code, out, errOut)
	}
	sum1, _, _ := artifacts.FileSHA256(tarPath)
	run1 := manifesttest.Statement(t, m1).Predicate.Fingerprint

	// Unsigned is refused; signed is published under the run id; again is a no-op.
	unsigned := filepath.Join(dir, "unsigned.sigstore.json")
	st := manifesttest.Statement(t, m1)
	if err := artifacts.WriteRunManifest(unsigned, &st, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := bakeRun(t, nil, "publish", "-to", repo, "-version", "unsigned", unsigned); code != exitFailed || !strings.Contains(errOut, "-allow-unsigned") {
		t.Fatalf("publish unsigned: exit %d, %q; want 1 naming -allow-unsigned", code, errOut)
	}
	if code, out, errOut := bakeRun(t, nil, "publish", "-to", repo, m1); code != exitOK || !strings.Contains(out, "Published "+repo+":"+run1) {
		t.Fatalf("publish: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := bakeRun(t, nil, "publish", "-to", repo, m1); code != exitOK || !strings.Contains(out, "nothing to do") {
		t.Fatalf("publish again: exit %d\n%s", code, out)
	}

	m2 := filepath.Join(dir, "run2.sigstore.json")
	code, out, errOut := bakeRun(t, os.Environ(), "build", "-color=false", "-sign-key", key, "-manifest", m2, "-publish", repo, "-publish-version", "nightly-2", "-force", tpl)
	if code != exitOK || !strings.Contains(errOut, "Published "+repo+":nightly-2") {
		t.Fatalf("build -publish: exit %d\n%s%s", code, out, errOut)
	}
	sum2, _, _ := artifacts.FileSHA256(tarPath)
	if sum1 == sum2 {
		t.Fatal("the two runs made the same tar; the test cannot tell them apart")
	}
	if code, _, errOut := bakeRun(t, nil, "publish", "-to", repo, "-version", run1, m2); code != exitFailed || !strings.Contains(errOut, "exists with different content") {
		t.Fatalf("publish run 2 as %s: exit %d, %q; want 1, refused", run1, code, errOut)
	}

	resolve := func(args ...string) (int, string, string) {
		t.Helper()
		return bakeRun(t, nil, append([]string{"resolve", "-key", pub, "-build", "docker.export"}, args...)...)
	}
	wantTar := func(sum string, args ...string) {
		t.Helper()
		code, out, errOut := resolve(args...)
		if code != exitOK || strings.TrimSpace(out) != tarPath+" sha256:"+sum {
			t.Fatalf("resolve %v: exit %d, stdout %q, want %q\n%s", args, code, out, tarPath+" sha256:"+sum, errOut)
		}
	}
	for _, v := range []string{run1, "nightly-2"} {
		if code, out, errOut := bakeRun(t, nil, "channel", "set", repo, "prod", v, "-sign-key", key, "-reason", "promote "+v, "-by", "ci"); code != exitOK {
			t.Fatalf("channel set prod %s: exit %d\n%s%s", v, code, out, errOut)
		}
	}
	wantTar(sum2, repo+":prod")
	code, out, _ = resolve(repo+":prod", "-json", "-min-sequence", "2")
	var res struct {
		Sequence uint64
		Version  string
	}
	if code != exitOK || json.Unmarshal([]byte(out), &res) != nil || res.Sequence != 2 || res.Version != "nightly-2" {
		t.Fatalf("resolve -json: exit %d, %s", code, out)
	}

	if code, out, errOut := bakeRun(t, nil, "channel", "rollback", repo, "prod", "-sign-key", key); code != exitOK || !strings.Contains(out, "-> "+run1) || !strings.Contains(out, "sequence 3") {
		t.Fatalf("channel rollback: exit %d\n%s%s", code, out, errOut)
	}
	wantTar(sum1, repo+":prod", "-min-sequence", "3")
	wantTar(sum2, repo+"@nightly-2")

	// -policy: a version that passes resolves; one that fails a rule
	// resolves nothing (exit 9, the rule named).
	pass, fail := filepath.Join(dir, "pass.hcl"), filepath.Join(dir, "fail.hcl")
	os.WriteFile(pass, []byte("rule \"succeeded\" {\n  expr = \"signature.signed && builds.all(b, b.status == 'succeeded')\"\n}\n"), 0o644)
	os.WriteFile(fail, []byte("rule \"tested\" {\n  expr = \"builds.all(b, has(b.tests))\"\n}\n"), 0o644)
	wantTar(sum2, repo+"@nightly-2", "-policy", pass)
	if code, out, errOut := resolve(repo+":prod", "-policy", fail); code != exitPolicy || out != "" || !strings.Contains(errOut, "FAIL  tested") {
		t.Fatalf("resolve -policy failing: exit %d, stdout %q\n%s", code, out, errOut)
	}

	code, out, _ = bakeRun(t, nil, "channel", "history", repo, "prod", "-key", pub)
	if code != exitOK || strings.Count(out, "\nprod ") != 3 || !strings.Contains(out, "rollback from nightly-2") {
		t.Fatalf("channel history: exit %d\n%s", code, out)
	}
	if code, out, _ = bakeRun(t, nil, "channel", "ls", repo, "-key", pub); code != exitOK || !strings.Contains(out, run1) {
		t.Fatalf("channel ls: exit %d\n%s", code, out)
	}

	if code, out, errOut := bakeRun(t, nil, "revoke", repo, run1, "-sign-key", key, "-reason", "CVE-2026-0001"); code != exitOK {
		t.Fatalf("revoke: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = bakeRun(t, nil, "versions", repo, "-key", pub)
	if code != exitOK || !strings.Contains(out, "REVOKED: CVE-2026-0001") || !regexpLine(out, "nightly-2") || strings.Contains(out, "unsigned") {
		t.Fatalf("versions: exit %d\n%s", code, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"revoked through the channel", []string{repo + ":prod"}, exitRevoked, "revoked: CVE-2026-0001"},
		{"revoked by name", []string{repo + "@" + run1}, exitRevoked, "revoked"},
		{"no such version", []string{repo + "@nope"}, exitNotFound, "not found"},
		{"no such channel", []string{repo + ":staging"}, exitNotFound, "not found"},
		{"another key", []string{repo + "@nightly-2", "-key", otherBase + ".pub"}, exitBadSig, "signature"},
		{"stale record", []string{repo + ":prod", "-min-sequence", "4"}, exitStaleSeqn, "below -min-sequence 4"},
		{"no such build", []string{repo + "@nightly-2", "-build", "qemu.disk"}, exitNoBuild, "no build \"qemu.disk\" (builds: docker.export)"},
		{"not regional", []string{repo + "@nightly-2", "-region", "eu-west-1"}, exitNoRegion, "no regional artifact"},
		{"no key", []string{repo + "@nightly-2", "-key", ""}, exitUsage, "-key is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := resolve(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) || out != "" {
				t.Errorf("resolve %v: exit %d, stdout %q, stderr %q; want exit %d saying %q", tc.args, code, out, errOut, tc.code, tc.msg)
			}
		})
	}
}

// regexpLine reports whether a line of out starts with word.
func regexpLine(out, word string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, word+" ") {
			return true
		}
	}
	return false
}

// TestManifestMergeCLI: two CI shards' manifests are merged, checked,
// published as one version, and each shard's build resolves from it.
func TestManifestMergeCLI(t *testing.T) {
	dir := t.TempDir()
	keyBase := filepath.Join(dir, "release")
	if code, _, stderr := bakeRun(t, nil, "keygen", "-out", keyBase); code != exitOK {
		t.Fatalf("keygen: %s", stderr)
	}
	data, _ := os.ReadFile(keyBase + ".key")
	key, err := artifacts.ParsePrivateKey(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	shard := func(runID, build, digest string) string {
		st, err := artifacts.NewRunManifest(artifacts.RunInfo{RunID: runID, CreatedAt: at, BakeVersion: "test", TemplatePath: "golden.pkr.hcl", TemplateSHA256: strings.Repeat("7", 64)},
			[]artifacts.BuildRecord{{Name: build, Builder: strings.Split(build, ".")[0], Status: artifacts.StatusSucceeded, Started: at, Finished: at,
				Artifacts: []*artifacts.Artifact{{Build: build, Items: []artifacts.Item{{ExternalIdentifier: "out/" + build, Digest: digest, Format: "qcow2"}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, runID+".sigstore.json")
		if err := artifacts.WriteRunManifest(p, st, key); err != nil {
			t.Fatal(err)
		}
		return p
	}
	qemu := shard("shard-qemu", "qemu.base", "sha256:"+strings.Repeat("a", 64))
	other := shard("shard-qemu-min", "qemu.min", "sha256:"+strings.Repeat("b", 64))
	merged := filepath.Join(dir, "run.sigstore.json")
	code, out, errOut := bakeRun(t, nil, "manifest", "merge", "-key", keyBase+".pub", "-sign-key", keyBase+".key", "-o", merged, "-run-id", "nightly-1", qemu, other)
	if code != exitOK || !strings.Contains(out, "(2 builds)") {
		t.Fatalf("manifest merge: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := bakeRun(t, nil, "manifest", "merge", "-key", keyBase+".pub", "-sign-key", keyBase+".key", "-o", filepath.Join(dir, "x.json"), qemu, qemu); code != exitFailed || !strings.Contains(errOut, "build qemu.base is in part 1 and part 2") {
		t.Fatalf("merge overlapping shards: exit %d\n%s%s", code, out, errOut)
	}
	repo := testRepo(t)
	if code, out, errOut := bakeRun(t, nil, "publish", "-to", repo, "-key", keyBase+".pub", merged); code != exitOK || !strings.Contains(out, repo+":nightly-1") {
		t.Fatalf("publish merged: exit %d\n%s%s", code, out, errOut)
	}
	for build, sum := range map[string]string{"qemu.base": strings.Repeat("a", 64), "qemu.min": strings.Repeat("b", 64)} {
		code, out, errOut := bakeRun(t, nil, "resolve", repo+"@nightly-1", "-build", build, "-key", keyBase+".pub")
		if code != exitOK || strings.TrimSpace(out) != "out/"+build+" sha256:"+sum {
			t.Errorf("resolve %s: exit %d, %q\n%s", build, code, out, errOut)
		}
	}
}

// TestPublishRetriesUnavailableRegistry: the registry is down (nothing
// listens on its port) when bake publish starts and comes up a second
// later, as when it restarts. bake publish says so, waits and publishes.
func TestPublishRetriesUnavailableRegistry(t *testing.T) {
	testRepo(t)
	target, err := url.Parse("http://" + testenv.RegistryAddr())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target)}
	up := time.AfterFunc(time.Second, func() {
		if ln, err := net.Listen("tcp", addr); err == nil {
			srv.Serve(ln)
		}
	})
	t.Cleanup(func() { up.Stop(); srv.Close() })
	var b [6]byte
	rand.Read(b[:])
	repo := addr + "/bake-test/cli-retry-" + hex.EncodeToString(b[:])

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	st, err := artifacts.NewRunManifest(artifacts.RunInfo{RunID: "run-retry", CreatedAt: now, BakeVersion: "test",
		TemplatePath: "t.pkr.hcl", TemplateSHA256: strings.Repeat("0", 64)},
		[]artifacts.BuildRecord{{Name: "null.a", Builder: "null", Status: artifacts.StatusSucceeded, Started: now, Finished: now}})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := artifacts.SignStatement(st, key)
	if err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(t.TempDir(), "run.sigstore.json")
	if err := os.WriteFile(m, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := bakeRun(t, nil, "publish", "-to", repo, m)
	if code != exitOK || !strings.Contains(out, "Published "+repo+":run-retry") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "bake publish: attempt 1 of 4 failed: ") || !strings.Contains(errOut, "connection refused") || !strings.Contains(errOut, "trying again in 2s") {
		t.Errorf("stderr does not tell of the retry:\n%s\nstdout:\n%s", errOut, out)
	}
}
