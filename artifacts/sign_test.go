package artifacts

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPAE(t *testing.T) {
	got := PAE("application/vnd.in-toto+json", []byte("hello world"))
	want := "DSSEv1 28 application/vnd.in-toto+json 11 hello world"
	if string(got) != want {
		t.Errorf("PAE = %q, want %q", got, want)
	}
	if got := PAE("", nil); string(got) != "DSSEv1 0  0 " {
		t.Errorf("empty PAE = %q", got)
	}
}

// signedTestRun returns a signed bundle of testRun, the key, and the disk.
func signedTestRun(t *testing.T, kt KeyType) ([]byte, crypto.Signer, string) {
	t.Helper()
	info, builds, disk := testRun(t)
	st, err := NewRunManifest(info, builds)
	if err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := SignStatement(st, key)
	if err != nil {
		t.Fatal(err)
	}
	return bundle, key, disk
}

func TestSignVerify(t *testing.T) {
	for _, kt := range []KeyType{KeyECDSAP256, KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			bundle, key, disk := signedTestRun(t, kt)
			v, err := Verify(bundle, key.Public(), VerifyOptions{Artifacts: []string{disk}})
			if err != nil {
				t.Fatal(err)
			}
			if !v.Signed || len(v.Artifacts) != 1 || v.Artifacts[0].Subject != "disk.qcow2" {
				t.Errorf("verified = %+v", v)
			}
			if n := len(v.Statement.Predicate.Builds); n != 3 {
				t.Errorf("verified statement has %d builds", n)
			}

			var b Bundle
			if err := json.Unmarshal(bundle, &b); err != nil {
				t.Fatal(err)
			}
			hint, _ := KeyHint(key.Public())
			if b.MediaType != BundleMediaType || b.VerificationMaterial.PublicKey == nil ||
				b.VerificationMaterial.PublicKey.Hint != hint || len(b.DSSEEnvelope.Signatures) != 1 ||
				b.DSSEEnvelope.Signatures[0].KeyID != "" {
				t.Errorf("bundle layout: %s", bundle)
			}
		})
	}
}

// TestVerifyWithOpenSSL checks a bundle without bake, running exactly the
// commands MANIFEST.md gives a user.
func TestVerifyWithOpenSSL(t *testing.T) {
	for _, tool := range []string{"openssl", "jq", "base64", "wc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if tool == "openssl" {
				t.Fatal("openssl not installed: run scripts/setup.sh")
			}
			t.Fatalf("%s not installed", tool)
		}
	}
	verifyCmd := map[KeyType]string{
		KeyECDSAP256: "openssl dgst -sha256 -verify bake.pub -signature sig pae",
		KeyEd25519:   "openssl pkeyutl -verify -pubin -inkey bake.pub -rawin -in pae -sigfile sig",
	}
	for _, kt := range []KeyType{KeyECDSAP256, KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			bundle, key, _ := signedTestRun(t, kt)
			dir := t.TempDir()
			pub, _ := MarshalPublicKey(key.Public())
			os.WriteFile(filepath.Join(dir, "bake.pub"), pub, 0o644)
			os.WriteFile(filepath.Join(dir, "m.sigstore.json"), bundle, 0o644)
			script := `set -e
jq .dsseEnvelope m.sigstore.json > env.json
jq -j .payloadType env.json > type; jq -r .payload env.json | base64 -d > body
jq -r '.signatures[0].sig' env.json | base64 -d > sig
{ printf 'DSSEv1 %d ' "$(wc -c <type)"; cat type; printf ' %d ' "$(wc -c <body)"; cat body; } > pae
` + verifyCmd[kt] + "\n"
			out, err := runShell(dir, script)
			if err != nil {
				t.Fatalf("openssl refused a good signature: %v\n%s", err, out)
			}
			if !strings.Contains(out, "Verified OK") && !strings.Contains(out, "Signature Verified Successfully") {
				t.Errorf("unexpected openssl output: %s", out)
			}
			// The shell's PAE is the one bake signs.
			pae, _ := os.ReadFile(filepath.Join(dir, "pae"))
			var b Bundle
			json.Unmarshal(bundle, &b)
			if !bytes.Equal(pae, PAE(b.DSSEEnvelope.PayloadType, b.DSSEEnvelope.Payload)) {
				t.Error("the PAE built by the shell recipe differs from bake's")
			}

			// And openssl refuses a changed payload.
			body, _ := os.ReadFile(filepath.Join(dir, "body"))
			body[10] ^= 1
			os.WriteFile(filepath.Join(dir, "body"), body, 0o644)
			out, err = runShell(dir, `{ printf 'DSSEv1 %d ' "$(wc -c <type)"; cat type; printf ' %d ' "$(wc -c <body)"; cat body; } > pae
`+verifyCmd[kt])
			if err == nil {
				t.Errorf("openssl accepted a changed payload: %s", out)
			}
		})
	}
}

func runShell(dir, script string) (string, error) {
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mutateBundle decodes bundle, lets f change it, and encodes it again.
func mutateBundle(t *testing.T, bundle []byte, f func(b *Bundle)) []byte {
	t.Helper()
	var b Bundle
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	f(&b)
	out, err := json.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyTampered is the tamper table of issue 5: each change is refused
// with a message naming its cause.
func TestVerifyTampered(t *testing.T) {
	for _, kt := range []KeyType{KeyECDSAP256, KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			bundle, key, disk := signedTestRun(t, kt)
			other, _ := GenerateKey(kt)

			// A statement with an unknown predicate type, properly signed.
			info, builds, _ := testRun(t)
			st, _ := NewRunManifest(info, builds)
			st.PredicateType = "https://example.com/other-manifest/v1"
			unknownPred, _ := SignStatement(st, key)
			st.PredicateType = PredicateTypeV1
			unsigned, _ := SignStatement(st, nil)
			st.Type = "https://in-toto.io/Statement/v0.1"
			oldStatement, _ := SignStatement(st, key)

			changedDisk := filepath.Join(t.TempDir(), "disk.qcow2")
			data, _ := os.ReadFile(disk)
			data[0] ^= 0xff
			os.WriteFile(changedDisk, data, 0o644)

			cases := []struct {
				name      string
				bundle    []byte
				key       crypto.PublicKey
				artifacts []string
				want      string
			}{
				{"payload byte changed", mutateBundle(t, bundle, func(b *Bundle) {
					i := bytes.Index(b.DSSEEnvelope.Payload, []byte("qemu.web"))
					b.DSSEEnvelope.Payload[i] = 'Q'
				}), key.Public(), nil, "the bundle or its signature was changed after signing"},
				{"signature changed", mutateBundle(t, bundle, func(b *Bundle) {
					s := b.DSSEEnvelope.Signatures[0].Sig
					s[len(s)-1] ^= 1
				}), key.Public(), nil, "the bundle or its signature was changed after signing"},
				{"subject digest swapped", mutateBundle(t, bundle, func(b *Bundle) {
					var s Statement
					json.Unmarshal(b.DSSEEnvelope.Payload, &s)
					s.Subject[0].Digest, s.Subject[1].Digest = s.Subject[1].Digest, s.Subject[0].Digest
					b.DSSEEnvelope.Payload, _ = s.Marshal()
				}), key.Public(), nil, "signature does not match the public key: the bundle or its signature was changed after signing"},
				{"another key", bundle, other.Public(), nil, "signed by another key"},
				{"artifact changed after the build", bundle, key.Public(), []string{changedDisk},
					"artifact " + changedDisk + " (sha256 "},
				{"unknown predicate type", unknownPred, key.Public(), nil,
					`unknown predicate type "https://example.com/other-manifest/v1"`},
				{"unsigned manifest", unsigned, key.Public(), nil, "manifest is unsigned"},
				{"payload type", mutateBundle(t, bundle, func(b *Bundle) {
					b.DSSEEnvelope.PayloadType = "text/plain"
				}), key.Public(), nil, `payload type is "text/plain", want "application/vnd.in-toto+json"`},
				{"media type", mutateBundle(t, bundle, func(b *Bundle) {
					b.MediaType = "application/json"
				}), key.Public(), nil, "bundle media type is"},
				{"statement type", oldStatement, key.Public(), nil, "statement type is"},
				{"not JSON", []byte("{"), key.Public(), nil, "bundle is not valid JSON"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					_, err := Verify(c.bundle, c.key, VerifyOptions{Artifacts: c.artifacts})
					if err == nil {
						t.Fatal("verified a tampered manifest")
					}
					if !strings.Contains(err.Error(), c.want) {
						t.Errorf("error %q does not say %q", err, c.want)
					}
				})
			}
			if _, err := Verify(bundle, key.Public(), VerifyOptions{Artifacts: []string{changedDisk}}); err == nil ||
				!strings.Contains(err.Error(), "is not a subject of the manifest") {
				t.Errorf("changed artifact: %v", err)
			}
		})
	}
}

func TestVerifyUnsignedAllowed(t *testing.T) {
	info, builds, disk := testRun(t)
	st, _ := NewRunManifest(info, builds)
	unsigned, err := SignStatement(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unsigned, []byte(`"signatures": []`)) || bytes.Contains(unsigned, []byte("publicKey")) {
		t.Errorf("unsigned bundle does not say so plainly:\n%s", unsigned)
	}
	if _, err := Verify(unsigned, nil, VerifyOptions{}); !errors.Is(err, ErrUnsigned) {
		t.Errorf("err = %v, want ErrUnsigned", err)
	}
	v, err := Verify(unsigned, nil, VerifyOptions{AllowUnsigned: true, Artifacts: []string{disk}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Signed {
		t.Error("unsigned manifest reported as signed")
	}
}

// TestVerifyKeyRefusesUnsigned: with a key given, a manifest whose
// signature was stripped and whose subjects were forged is refused, even
// with AllowUnsigned.
func TestVerifyKeyRefusesUnsigned(t *testing.T) {
	bundle, key, _ := signedTestRun(t, KeyECDSAP256)
	forged := t.TempDir() + "/evil.tar"
	if err := os.WriteFile(forged, []byte("attacker's image"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, _, _ := FileSHA256(forged)
	stripped := mutateBundle(t, bundle, func(b *Bundle) {
		var s Statement
		json.Unmarshal(b.DSSEEnvelope.Payload, &s)
		s.Subject[0].Digest = map[string]string{"sha256": sum}
		b.DSSEEnvelope.Payload, _ = s.Marshal()
		b.DSSEEnvelope.Signatures = nil
		b.VerificationMaterial.PublicKey = nil
	})
	_, err := Verify(stripped, key.Public(), VerifyOptions{AllowUnsigned: true, Artifacts: []string{forged}})
	if !errors.Is(err, ErrUnsigned) || !strings.Contains(err.Error(), "a key was given") {
		t.Fatalf("stripped and forged manifest with a key: %v, want ErrUnsigned naming the key", err)
	}
}

func TestWriteRunManifest(t *testing.T) {
	info, builds, _ := testRun(t)
	st, _ := NewRunManifest(info, builds)
	key, _ := GenerateKey(KeyEd25519)
	path := filepath.Join(t.TempDir(), "bake-manifest.sigstore.json")
	if err := WriteRunManifest(path, st, key); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(data, key.Public(), VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}
