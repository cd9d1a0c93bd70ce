package artifacts

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSignPayloadRoundTrip(t *testing.T) {
	for _, name := range []string{"ecdsa-pkcs8.key", "ed25519.key"} {
		key, err := ParsePrivateKey(testdataFile(t, "keys/"+name), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := SignPayload(PayloadType, []byte(`{"x":1}`), key)
		if err != nil {
			t.Fatal(err)
		}
		p, err := VerifyPayload(b, key.Public(), PayloadType)
		if err != nil || !bytes.Equal(p, []byte(`{"x":1}`)) {
			t.Fatalf("%s: VerifyPayload = %q, %v", name, p, err)
		}
		other, _ := GenerateKey(KeyECDSAP256)
		if _, err := VerifyPayload(b, other.Public(), PayloadType); !errors.Is(err, ErrSignature) {
			t.Fatalf("%s: verified with another key: err = %v, want ErrSignature", name, err)
		}
	}
}

func testdataFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzVerifyPayload: whatever the bundle, VerifyPayload never returns a
// payload that is not what a signature by the key covers.
func FuzzVerifyPayload(f *testing.F) {
	pub, err := ParsePublicKey(testdataFiles(f, "keys/ecdsa.pub")[0])
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range testdataFiles(f, "bundles/*.sigstore.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, bundle []byte) {
		p, err := VerifyPayload(bundle, pub, PayloadType)
		if err != nil {
			return
		}
		if _, err := Verify(bundle, pub, VerifyOptions{}); err != nil && errors.Is(err, ErrUnsigned) {
			t.Fatalf("VerifyPayload accepted what Verify calls unsigned (payload %q)", p)
		}
	})
}
