package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/registry"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// TestAttestBuildCLI: a signed docker build that pushes attaches its run
// manifest to the pushed image by default and says so; bake attest
// -verify (and cosign 2.x, when installed) accepts it with the public key
// and refuses it with another; attaching again changes nothing; a build
// with -attest=false attaches nothing.
func TestAttestBuildCLI(t *testing.T) {
	requireDocker(t)
	dir := t.TempDir()
	keyBase := filepath.Join(dir, "release")
	otherBase := filepath.Join(dir, "other")
	for _, b := range []string{keyBase, otherBase} {
		if code, _, stderr := bakeRun(t, nil, "keygen", "-out", b); code != exitOK {
			t.Fatalf("keygen: %s", stderr)
		}
	}
	key, pub := keyBase+".key", keyBase+".pub"
	repo := testRepo(t)
	// The two builds' images, tagged and pushed by the post-processors:
	// the engine keeps them unless removed.
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", repo+":v1", repo+":v2").Run() })
	tpl := func(tag string) string {
		return writeTemplate(t, fmt.Sprintf(`
source "docker" "app" {
  image  = %q
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.app"]
  provisioner "shell" {
    inline = ["date +%%s%%N > /etc/bake-run"]
  }
  post-processors {
    post-processor "docker-tag" {
      repository = %q
      tags       = [%q]
    }
    post-processor "docker-push" {}
  }
}
`, testenv.BaseImage(), repo, tag))
	}
	m := filepath.Join(dir, "run.sigstore.json")
	code, out, errOut := bakeRun(t, os.Environ(), "build", "-color=false", "-no-cache", "-sign-key", key, "-manifest", m, tpl("v1"))
	if code != exitOK {
		t.Fatalf("build: exit %d\n%s%s", code, out, errOut)
	}
	match := regexp.MustCompile(`==> attestation attached: (\S+@sha256:[0-9a-f]{64}) \(tag sha256-[0-9a-f]{64}\.att\)`).FindStringSubmatch(out)
	if match == nil || !strings.HasPrefix(match[1], repo+"@") {
		t.Fatalf("build output does not report the attestation of an image in %s:\n%s", repo, out)
	}
	image := match[1]
	bundle, _ := os.ReadFile(m)
	if imgs, _ := registry.PushedImages(bundle); len(imgs) != 1 || imgs[0] != image {
		t.Fatalf("the manifest's pushed images %v, the build attested %s", imgs, image)
	}

	if code, out, errOut := bakeRun(t, nil, "attest", "-verify", "-key", pub, image); code != exitOK || !strings.Contains(out, "tag sha256:") || !strings.Contains(out, "verified") {
		t.Fatalf("attest -verify: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := bakeRun(t, nil, "attest", "-verify", "-key", otherBase+".pub", image); code != exitBadSig {
		t.Fatalf("attest -verify with another key: exit %d (want %d)\n%s", code, exitBadSig, errOut)
	}
	if code, out, errOut := bakeRun(t, nil, "attest", "-key", pub, m); code != exitOK || !strings.Contains(out, "already attached: "+image) {
		t.Fatalf("attest again: exit %d\n%s%s", code, out, errOut)
	}
	if bin := cosignPath(); bin != "" {
		cmd := exec.Command(bin, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "https://bake.dev/manifest/v1",
			"--allow-insecure-registry", "--allow-http-registry", image)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "TUF_ROOT="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cosign verify-attestation: %v\n%s", err, out)
		}
		t.Logf("cosign verify-attestation (%s) accepted %s", bin, image)
	} else {
		t.Logf("cosign not installed (scripts/cosign.sh): only bake attest -verify ran")
	}

	// -attest=false: pushed, signed, not attested.
	m2 := filepath.Join(dir, "run2.sigstore.json")
	code, out, errOut = bakeRun(t, os.Environ(), "build", "-color=false", "-no-cache", "-attest=false", "-sign-key", key, "-manifest", m2, tpl("v2"))
	if code != exitOK || strings.Contains(out, "attestation") {
		t.Fatalf("build -attest=false: exit %d\n%s%s", code, out, errOut)
	}
	bundle2, _ := os.ReadFile(m2)
	imgs, _ := registry.PushedImages(bundle2)
	if len(imgs) != 1 {
		t.Fatalf("second build pushed %v", imgs)
	}
	if code, _, errOut := bakeRun(t, nil, "attest", "-verify", "-key", pub, imgs[0]); code != exitNotFound {
		t.Fatalf("attest -verify of an image never attested: exit %d (want %d)\n%s", code, exitNotFound, errOut)
	}
}

// cosignPath finds cosign 2.x: $BAKE_COSIGN, the fixture cache
// scripts/cosign.sh fills, then PATH.
func cosignPath() string {
	for _, p := range []string{os.Getenv("BAKE_COSIGN"), "/var/cache/bake-fixtures/cosign/cosign"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	return ""
}

// TestAttestRunRefused: when the registry refuses the attestation tag,
// bake build's attach step says which images are not attested and how to
// retry, and the run's status is left alone (attestRun returns nothing to
// fail it with).
func TestAttestRunRefused(t *testing.T) {
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".att") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errors":[{"code":"DENIED","message":"read-only tags"}]}`))
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	image := pushRandom(t, strings.TrimPrefix(srv.URL, "http://")+"/team/app")
	dir := t.TempDir()
	keyBase := filepath.Join(dir, "release")
	if code, _, stderr := bakeRun(t, nil, "keygen", "-out", keyBase); code != exitOK {
		t.Fatalf("keygen: %s", stderr)
	}
	key, err := loadSigner(keyBase+".key", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, dig, _ := strings.Cut(image, "@")
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	st, err := artifacts.NewRunManifest(artifacts.RunInfo{RunID: "r", CreatedAt: at, TemplatePath: "t", TemplateSHA256: strings.Repeat("0", 64)},
		[]artifacts.BuildRecord{{Name: "docker.app", Builder: "docker", Status: artifacts.StatusSucceeded, Started: at, Finished: at,
			Artifacts: []*artifacts.Artifact{{Builder: "docker-push", ID: image, Items: []artifacts.Item{{ExternalIdentifier: image, URI: image, Digest: dig}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(dir, "run.sigstore.json")
	if err := artifacts.WriteRunManifest(m, st, key); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var stdout, stderr bytes.Buffer
	attestRun(context.Background(), &cliEnv{stdout: &stdout, stderr: &stderr}, m, false)
	if !strings.Contains(stderr.String(), "WARNING: 1 of 1 pushed image(s) not attested (the run itself succeeded)") ||
		!strings.Contains(stderr.String(), "registry refused the credentials") ||
		!strings.Contains(stderr.String(), "retry with: bake attest "+m) || stdout.Len() != 0 {
		t.Fatalf("attach refused: stdout %q, stderr:\n%s", stdout.String(), stderr.String())
	}
}
