package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
)

// bakeRun runs the bake CLI in-process and returns its exit code, stdout
// and stderr.
func bakeRun(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &cliEnv{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(""), environ: environ}
	code := run(context.Background(), env, args)
	return code, stdout.String(), stderr.String()
}

// assertNoSecrets fails if out holds a line of the PEM file at keyPath or
// any of the secrets.
func assertNoSecrets(t *testing.T, out, keyPath string, secrets ...string) {
	t.Helper()
	data, _ := os.ReadFile(keyPath)
	for _, line := range strings.Split(string(data), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(out, line) {
			t.Errorf("output contains key material %q", line)
		}
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output contains secret %q", s)
		}
	}
}

// testManifest builds, signs with the key at keyPath (none: unsigned) and
// writes a run manifest with a succeeded qemu build and a failed
// amazon-ebs build, the way the engine does. It returns the bundle path
// and the disk artifact.
func testManifest(t *testing.T, dir, keyPath string, environ []string) (string, string) {
	t.Helper()
	disk := filepath.Join(dir, "disk.qcow2")
	os.WriteFile(disk, bytes.Repeat([]byte("disk"), 1000), 0o644)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st, err := artifacts.NewRunManifest(artifacts.RunInfo{
		RunID: "run-1", CreatedAt: t0, BakeVersion: version, TemplatePath: "web.pkr.hcl",
		TemplateSHA256: strings.Repeat("0", 64),
	}, []artifacts.BuildRecord{
		{Name: "qemu.web", Builder: "qemu", Status: artifacts.StatusSucceeded, Started: t0, Finished: t0.Add(time.Minute),
			Artifacts: []*artifacts.Artifact{{Builder: "qemu", Build: "qemu.web", ID: disk, Files: []string{disk}}}},
		{Name: "amazon-ebs.web", Builder: "amazon-ebs", Status: artifacts.StatusFailed, Started: t0, Finished: t0.Add(time.Minute),
			Err: errors.New("create AMI: UnauthorizedOperation")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var key crypto.Signer
	if keyPath != "" {
		if key, err = loadSigner(keyPath, environ); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "bake-manifest.sigstore.json")
	if err := artifacts.WriteRunManifest(path, st, key); err != nil {
		t.Fatal(err)
	}
	return path, disk
}

func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "k")
	if code, _, errOut := bakeRun(t, nil, "keygen", "-out", name); code != exitOK {
		t.Fatal(errOut)
	}
	bundle, disk := testManifest(t, dir, name+".key", nil)

	// Verified: builds with status, the failed one with its error, and
	// the artifact checked. Flags after the bundle, double dashes.
	code, out, errOut := bakeRun(t, nil, "verify", bundle, "--key", name+".pub", "--artifact", disk)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Verified " + bundle, "signature:  OK", "qemu.web", "succeeded",
		"amazon-ebs.web", "failed: create AMI: UnauthorizedOperation", disk, "OK, subject disk.qcow2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// -json.
	code, out, _ = bakeRun(t, nil, "verify", "-json", "-key", name+".pub", bundle, "-artifact", disk)
	var res struct {
		Verified  bool
		Signed    bool
		Predicate artifacts.Predicate
		Artifacts []artifacts.VerifiedArtifact
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if !res.Verified || !res.Signed || len(res.Predicate.Builds) != 2 || res.Predicate.Builds[1].Error == "" || len(res.Artifacts) != 1 {
		t.Errorf("json result: %+v", res)
	}

	// An artifact changed after the build.
	os.WriteFile(disk, []byte("other"), 0o644)
	code, out, errOut = bakeRun(t, nil, "verify", "-key", name+".pub", bundle, "-artifact", disk)
	if code != exitFailed || !strings.Contains(errOut, "is not a subject of the manifest") {
		t.Errorf("changed artifact: exit %d, %q", code, errOut)
	}
	code, out, _ = bakeRun(t, nil, "verify", "-json", "-key", name+".pub", bundle, "-artifact", disk)
	if code != exitFailed || !strings.Contains(out, `"verified": false`) {
		t.Errorf("changed artifact, json: exit %d, %s", code, out)
	}

	// Another key.
	other := filepath.Join(dir, "other")
	bakeRun(t, nil, "keygen", "-out", other)
	code, _, errOut = bakeRun(t, nil, "verify", "-key", other+".pub", bundle)
	if code != exitFailed || !strings.Contains(errOut, "signature does not match the public key") {
		t.Errorf("other key: exit %d, %q", code, errOut)
	}

	// A changed payload.
	data, _ := os.ReadFile(bundle)
	var b artifacts.Bundle
	json.Unmarshal(data, &b)
	b.DSSEEnvelope.Payload = bytes.Replace(b.DSSEEnvelope.Payload, []byte("UnauthorizedOperation"), []byte("Authorized!Operation"), 1)
	tampered, _ := json.Marshal(&b)
	os.WriteFile(bundle, tampered, 0o644)
	code, _, errOut = bakeRun(t, nil, "verify", "-key", name+".pub", bundle)
	if code != exitFailed || !strings.Contains(errOut, "changed after signing") {
		t.Errorf("changed payload: exit %d, %q", code, errOut)
	}
}

func TestVerifyUnsignedCommand(t *testing.T) {
	dir := t.TempDir()
	bakeRun(t, nil, "keygen", "-out", filepath.Join(dir, "k"))
	bundle, disk := testManifest(t, dir, "", nil)
	code, _, errOut := bakeRun(t, nil, "verify", "-key", filepath.Join(dir, "k.pub"), bundle)
	if code != exitFailed || !strings.Contains(errOut, "manifest is unsigned") {
		t.Errorf("unsigned: exit %d, %q", code, errOut)
	}
	code, out, errOut := bakeRun(t, nil, "verify", "-allow-unsigned", bundle, "-artifact", disk)
	if code != exitOK || !strings.Contains(out, "unsigned") {
		t.Errorf("unsigned allowed: exit %d, %q %q", code, out, errOut)
	}
	// With a key, -allow-unsigned does not accept an unsigned manifest:
	// its signature may have been stripped.
	code, out, errOut = bakeRun(t, nil, "verify", "-key", filepath.Join(dir, "k.pub"), "-allow-unsigned", bundle, "-artifact", disk)
	if code != exitFailed || !strings.Contains(errOut, "manifest is unsigned") || strings.Contains(out, "Verified") {
		t.Errorf("unsigned with -key and -allow-unsigned: exit %d, %q %q", code, out, errOut)
	}
}

func TestVerifyUsage(t *testing.T) {
	for _, args := range [][]string{
		{"verify"},
		{"verify", "-key", "k.pub"},
		{"verify", "m.json"},
		{"verify", "-key", "k.pub", "a.json", "b.json"},
		{"verify", "-bogus", "m.json"},
	} {
		if code, _, _ := bakeRun(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, errOut := bakeRun(t, nil, "verify", "-key", "/nonexistent.pub", "m.json"); code != exitFailed || errOut == "" {
		t.Errorf("missing key file: exit %d %q", code, errOut)
	}
}

// TestVerifyFailedBuildArtifactCommand: bake verify names the build an
// artifact belongs to and its status, and refuses a failed build's file
// unless -allow-failed.
func TestVerifyFailedBuildArtifactCommand(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "k")
	if code, _, errOut := bakeRun(t, nil, "keygen", "-out", name); code != exitOK {
		t.Fatal(errOut)
	}
	good, bad := filepath.Join(dir, "good.tar"), filepath.Join(dir, "f.tar.gz")
	os.WriteFile(good, []byte("good"), 0o644)
	os.WriteFile(bad, []byte("bad"), 0o644)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st, err := artifacts.NewRunManifest(artifacts.RunInfo{RunID: "run-1", CreatedAt: t0, BakeVersion: version,
		TemplatePath: "t.pkr.hcl", TemplateSHA256: strings.Repeat("0", 64)}, []artifacts.BuildRecord{
		{Name: "docker.good", Builder: "docker", Status: artifacts.StatusSucceeded, Started: t0, Finished: t0,
			Artifacts: []*artifacts.Artifact{{Builder: "docker", ID: good, Files: []string{good}}}},
		{Name: "docker.f", Builder: "docker", Status: artifacts.StatusFailed, Started: t0, Finished: t0,
			Err:       errors.New("post-processor shell-local: exit status 1"),
			Artifacts: []*artifacts.Artifact{{Builder: "compress", ID: bad, Files: []string{bad}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	key, err := loadSigner(name+".key", nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "m.sigstore.json")
	if err := artifacts.WriteRunManifest(bundle, st, key); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := bakeRun(t, nil, "verify", "-key", name+".pub", bundle, "-artifact", good)
	if code != exitOK || !strings.Contains(out, "OK, subject good.tar, build docker.good (succeeded)") {
		t.Errorf("the succeeded build's file: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = bakeRun(t, nil, "verify", "-key", name+".pub", bundle, "-artifact", bad)
	if code != exitFailed || !strings.Contains(errOut, "belongs to build docker.f, which failed") ||
		!strings.Contains(errOut, "-allow-failed") || strings.Contains(out, "OK") {
		t.Errorf("the failed build's file: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = bakeRun(t, nil, "verify", "-key", name+".pub", "-allow-failed", bundle, "-artifact", bad)
	if code != exitOK || !strings.Contains(out, "build docker.f FAILED, accepted with -allow-failed") {
		t.Errorf("the failed build's file with -allow-failed: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = bakeRun(t, nil, "verify", "-json", "-key", name+".pub", "-allow-failed", bundle, "-artifact", bad)
	var res struct{ Artifacts []artifacts.VerifiedArtifact }
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK || len(res.Artifacts) != 1 ||
		res.Artifacts[0].Build != "docker.f" || res.Artifacts[0].Status != artifacts.StatusFailed {
		t.Errorf("-json: exit %d, %v\n%s", code, err, out)
	}
}
