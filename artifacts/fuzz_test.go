package artifacts

import (
	"crypto"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fuzzPassword is the password of testdata/keys/cosign-encrypted.key and
// pkcs8-encrypted.key.
const fuzzPassword = "fuzz-secret"

// testdataFiles returns the contents of the testdata files matching
// pattern.
func testdataFiles(f *testing.F, pattern string) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no testdata matches %s: %v", pattern, err)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzParsePrivateKey: any input either fails with an error that does not
// show the password, or gives a key that signs verifiably.
func FuzzParsePrivateKey(f *testing.F) {
	for _, b := range testdataFiles(f, "keys/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePrivateKey(data, func() ([]byte, error) { return []byte(fuzzPassword), nil })
		if err != nil {
			if strings.Contains(err.Error(), fuzzPassword) {
				t.Fatalf("the error shows the password: %v", err)
			}
			return
		}
		pae := PAE(PayloadType, []byte("{}"))
		sig, err := signPAE(key, pae)
		if err != nil {
			t.Fatalf("a parsed key does not sign: %v", err)
		}
		if !verifyPAE(key.Public(), pae, sig) {
			t.Fatal("a parsed key's signature does not verify")
		}
	})
}

// FuzzDecryptCosign mutates the JSON body of cosign's encrypted key
// format, which a PEM mutation seldom reaches.
func FuzzDecryptCosign(f *testing.F) {
	for _, b := range testdataFiles(f, "keys/cosign-encrypted.key") {
		block, _ := pem.Decode(b)
		f.Add(block.Bytes)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		der, err := decryptCosign(body, []byte(fuzzPassword))
		if err != nil {
			if strings.Contains(err.Error(), fuzzPassword) {
				t.Fatalf("the error shows the password: %v", err)
			}
			return
		}
		if len(der) == 0 {
			t.Fatal("decrypted to nothing without an error")
		}
	})
}

// FuzzParsePublicKey: a key that parses has a hint and marshals back to
// the same key.
func FuzzParsePublicKey(f *testing.F) {
	for _, b := range testdataFiles(f, "keys/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := ParsePublicKey(data)
		if err != nil {
			return
		}
		if _, err := KeyHint(pub); err != nil {
			t.Fatalf("no hint for a parsed key: %v", err)
		}
		out, err := MarshalPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParsePublicKey(out)
		if err != nil || !reflect.DeepEqual(pub, again) {
			t.Fatalf("the key does not round-trip: %v", err)
		}
	})
}

// FuzzVerify: whatever the bundle, Verify returns an error or a statement
// with a predicate; with a key it never accepts one unsigned, and without
// a key it never claims a signature.
func FuzzVerify(f *testing.F) {
	pub, err := ParsePublicKey(testdataFiles(f, "keys/ecdsa.pub")[0])
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range testdataFiles(f, "bundles/*.sigstore.json") {
		f.Add(b)
	}
	// The golden statement (builds with artifacts of every kind), signed
	// and unsigned.
	var st Statement
	if err := json.Unmarshal(testdataFiles(f, "statement.golden.json")[0], &st); err != nil {
		f.Fatal(err)
	}
	key, err := ParsePrivateKey(testdataFiles(f, "keys/ecdsa-pkcs8.key")[0], nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range []crypto.Signer{key, nil} {
		b, err := SignStatement(&st, k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, bundle []byte) {
		for _, allow := range []bool{false, true} {
			v, err := Verify(bundle, pub, VerifyOptions{AllowUnsigned: allow, AllowFailed: allow})
			if err != nil {
				continue
			}
			if v.Statement == nil || v.Statement.Predicate == nil {
				t.Fatal("verified without a statement and predicate")
			}
			if !v.Signed {
				t.Fatal("verified an unsigned bundle although a key was given")
			}
		}
		if v, err := Verify(bundle, nil, VerifyOptions{AllowUnsigned: true}); err == nil && v.Signed {
			t.Fatal("claims a signature checked without a key")
		}
	})
}
