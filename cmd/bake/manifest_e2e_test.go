package main

import (
	"bytes"

	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestBuildSignedManifestVerifies runs a real build that exports a
// container to a tar and a build that fails, signs the run manifest, and
// checks it the way a deployer would: bake verify with the artifact, and
// openssl over the DSSE PAE bytes with only the public key.
func TestBuildSignedManifestVerifies(t *testing.T) {
	requireDocker(t)
	dir := t.TempDir()
	keyBase := filepath.Join(dir, "signer")
	if code, _, stderr := bakeRun(t, nil, "keygen", "-out", keyBase); code != exitOK {
		t.Fatalf("keygen: %s", stderr)
	}
	tarPath := filepath.Join(dir, "out", "rootfs.tar")
	tpl := writeTemplate(t, `
source "docker" "export" {
  image       = "bake.local/debian:bookworm"
  pull        = false
  export_path = "`+tarPath+`"
}

source "null" "broken" {
  communicator = "none"
}

build {
  sources = ["source.docker.export", "source.null.broken"]

  provisioner "shell" {
    only   = ["docker.export"]
    inline = ["echo signed-build > /etc/bake-marker"]
  }

  provisioner "shell-local" {
    only   = ["null.broken"]
    inline = ["echo no such luck >&2", "exit 4"]
  }
}
`)
	manifest := filepath.Join(dir, "run.sigstore.json")
	code, stdout, stderr := bakeRun(t, os.Environ(), "build", "-color=false", "-sign-key", keyBase+".key", "-manifest", manifest, tpl)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1 (one build fails):\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "run manifest (signed)") {
		t.Errorf("output does not say the manifest is signed:\n%s", stdout)
	}
	if !tarHas(t, tarPath, "etc/bake-marker") {
		t.Fatalf("exported tar lacks the provisioned file")
	}

	// bake verify: signature, and the tar is a subject.
	code, vout, verr := bakeRun(t, nil, "verify", "-key", keyBase+".pub", "-artifact", tarPath, manifest)
	if code != exitOK {
		t.Fatalf("verify: exit %d\n%s%s", code, vout, verr)
	}
	for _, want := range []string{"docker.export", "null.broken", "failed"} {
		if !strings.Contains(vout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, vout)
		}
	}

	// The statement lists the failed build with its error.
	bundle := manifesttest.Bundle(t, manifest)
	payload := bundle.DSSEEnvelope.Payload
	stmt := manifesttest.Statement(t, manifest)
	found := false
	for _, b := range stmt.Predicate.Builds {
		if b.Name == "null.broken" {
			found = true
			if b.Status != "failed" || !strings.Contains(b.Error, "exited with code 4") {
				t.Errorf("failed build recorded as %+v", b)
			}
		}
	}
	if !found {
		t.Errorf("failed build missing from the manifest: %s", payload)
	}

	// The predicate of a manifest bake build wrote satisfies the schema in
	// the repository.
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(artifacts.PredicateSchemaV1))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("predicate.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("predicate.json")
	if err != nil {
		t.Fatal(err)
	}
	var whole map[string]any
	if err := json.Unmarshal(payload, &whole); err != nil {
		t.Fatal(err)
	}
	predJSON, _ := json.Marshal(whole["predicate"])
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(predJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("the run manifest's predicate does not satisfy the schema: %v", err)
	}

	// openssl, with only the public key, over the PAE bytes.
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not installed: run scripts/setup.sh")
	}
	sig := bundle.DSSEEnvelope.Signatures[0].Sig
	pae := []byte("DSSEv1 " + itoa(len(bundle.DSSEEnvelope.PayloadType)) + " " + bundle.DSSEEnvelope.PayloadType + " " + itoa(len(payload)) + " ")
	pae = append(pae, payload...)
	os.WriteFile(filepath.Join(dir, "pae"), pae, 0o644)
	os.WriteFile(filepath.Join(dir, "sig"), sig, 0o644)
	out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", keyBase+".pub", "-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "pae")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl: %v %s", err, out)
	}

	// Changing the artifact after the build is caught.
	f, _ := os.OpenFile(tarPath, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("tampered"))
	f.Close()
	code, vout, verr = bakeRun(t, nil, "verify", "-key", keyBase+".pub", "-artifact", tarPath, manifest)
	if code != exitFailed || !strings.Contains(vout+verr, "not a subject") {
		t.Fatalf("tampered artifact: exit %d\n%s%s", code, vout, verr)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func tarHas(t *testing.T, path, name string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			return true
		}
	}
}

// requireDocker fails the test when no Docker engine answers: the suite
// runs after scripts/setup.sh, which starts one.
func requireDocker(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Fatalf("no Docker engine: run scripts/setup.sh first (%v)", err)
	}
}
