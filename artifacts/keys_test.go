package artifacts

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, kt := range []KeyType{KeyECDSAP256, KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			key, err := GenerateKey(kt)
			if err != nil {
				t.Fatal(err)
			}
			privPEM, err := MarshalPrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParsePrivateKey(privPEM, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !sameKey(got.Public(), key.Public()) {
				t.Error("parsed key differs")
			}
			pubPEM, _ := MarshalPublicKey(key.Public())
			pub, err := ParsePublicKey(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			if !sameKey(pub, key.Public()) {
				t.Error("parsed public key differs")
			}
		})
	}
}

// TestCosignEncryptedKey reads keys encrypted by go-securesystemslib's
// "encrypted" package, the code cosign uses for ENCRYPTED SIGSTORE PRIVATE
// KEY, and has that package open the keys bake writes.
func TestCosignEncryptedKey(t *testing.T) {
	const password = "correct horse battery staple"
	for _, kt := range []KeyType{KeyECDSAP256, KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			key, _ := GenerateKey(kt)
			der, _ := x509.MarshalPKCS8PrivateKey(key)

			// cosign's encryption, bake's decryption.
			body, err := encrypted.Encrypt(der, []byte(password))
			if err != nil {
				t.Fatal(err)
			}
			cosignPEM := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: body})
			got, err := ParsePrivateKey(cosignPEM, func() ([]byte, error) { return []byte(password), nil })
			if err != nil {
				t.Fatalf("read cosign key with the right password: %v", err)
			}
			if !sameKey(got.Public(), key.Public()) {
				t.Error("decrypted key differs")
			}

			// Wrong password: a clear error, no key material, no password.
			_, err = ParsePrivateKey(cosignPEM, func() ([]byte, error) { return []byte("hunter2"), nil })
			if !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("wrong password: err = %v, want ErrWrongPassword", err)
			}
			if !strings.Contains(err.Error(), "wrong password or corrupt key") {
				t.Errorf("wrong password error unclear: %q", err)
			}
			assertNoKeyMaterial(t, err.Error(), cosignPEM, "hunter2", password)

			// No password at all.
			if _, err := ParsePrivateKey(cosignPEM, nil); !errors.Is(err, ErrPasswordRequired) {
				t.Errorf("no password: err = %v", err)
			}

			// bake's encryption, cosign's decryption.
			bakePEM, err := MarshalEncryptedPrivateKey(key, []byte(password))
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(bakePEM)
			if block.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" {
				t.Errorf("PEM type %q", block.Type)
			}
			plain, err := encrypted.Decrypt(block.Bytes, []byte(password))
			if err != nil {
				t.Fatalf("cosign's decryption refused bake's key: %v", err)
			}
			if !bytes.Equal(plain, der) {
				back, _ := x509.ParsePKCS8PrivateKey(plain)
				if s, ok := back.(crypto.Signer); !ok || !sameKey(s.Public(), key.Public()) {
					t.Error("cosign's decryption of bake's key gives another key")
				}
			}
		})
	}
}

func TestCorruptEncryptedKey(t *testing.T) {
	key, _ := GenerateKey(KeyECDSAP256)
	good, _ := MarshalEncryptedPrivateKey(key, []byte("pw"))
	block, _ := pem.Decode(good)
	cases := map[string][]byte{
		"not JSON":      pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: []byte("garbage")}),
		"huge scrypt N": pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: bytes.Replace(block.Bytes, []byte(`"N":65536`), []byte(`"N":1073741824`), 1)}),
		"ciphertext flipped": func() []byte {
			b := bytes.Replace(block.Bytes, []byte(`"ciphertext":"`), []byte(`"ciphertext":"AAAA`), 1)
			return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: b})
		}(),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePrivateKey(data, func() ([]byte, error) { return []byte("pw"), nil })
			if err == nil {
				t.Fatal("corrupt key accepted")
			}
			assertNoKeyMaterial(t, err.Error(), good, "pw-never-printed")
		})
	}
}

// TestOpenSSLKeys reads keys as `openssl genpkey` writes them, and checks
// openssl reads the public keys bake writes.
func TestOpenSSLKeys(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not installed: run scripts/setup.sh")
	}
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"ec.key":      {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.key"},
		"ed25519.key": {"genpkey", "-algorithm", "ed25519", "-out", "ed25519.key"},
		"sec1.key":    {"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sec1.key"},
	} {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
		data, _ := os.ReadFile(filepath.Join(dir, name))
		key, err := ParsePrivateKey(data, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		switch key.Public().(type) {
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			t.Errorf("%s: key type %T", name, key.Public())
		}
		pub, _ := MarshalPublicKey(key.Public())
		os.WriteFile(filepath.Join(dir, name+".pub"), pub, 0o644)
		cmd = exec.Command("openssl", "pkey", "-pubin", "-in", name+".pub", "-noout")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("openssl cannot read bake's public key for %s: %v\n%s", name, err, out)
		}
	}

	// An RSA key is refused by name.
	cmd := exec.Command("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "rsa.key")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "rsa.key"))
	if _, err := ParsePrivateKey(data, nil); err == nil || !strings.Contains(err.Error(), "unsupported key type") {
		t.Errorf("RSA key: err = %v", err)
	}
	assertNoKeyMaterial(t, "", data)
}

// assertNoKeyMaterial fails if out contains a line of any PEM given, or
// any of the secrets.
func assertNoKeyMaterial(t *testing.T, out string, pemOrSecret ...any) {
	t.Helper()
	for _, x := range pemOrSecret {
		switch v := x.(type) {
		case []byte:
			for _, line := range strings.Split(string(v), "\n") {
				if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(out, line) {
					t.Errorf("output contains key material %q", line)
				}
			}
		case string:
			if v != "" && strings.Contains(out, v) {
				t.Errorf("output contains secret %q", v)
			}
		}
	}
}

func sameKey(a, b crypto.PublicKey) bool {
	ha, err1 := KeyHint(a)
	hb, err2 := KeyHint(b)
	return err1 == nil && err2 == nil && ha == hb
}
