package artifacts

import (
	"crypto"
	"errors"
	"fmt"
)

// ErrSignature is returned (wrapped) by VerifyPayload when a bundle is
// unsigned or its signature does not match the key.
var ErrSignature = errors.New("bad signature")

// SignPayload wraps payload, of DSSE type payloadType, in a DSSE envelope
// signed by key inside a Sigstore bundle, as SignStatement does for a run
// manifest. It is for the other signed documents bake stores (channel
// records, revocations); key must not be nil.
func SignPayload(payloadType string, payload []byte, key crypto.Signer) ([]byte, error) {
	if key == nil {
		return nil, errors.New("sign: no key")
	}
	sig, err := signPAE(key, PAE(payloadType, payload))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	hint, err := KeyHint(key.Public())
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	b := &Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: VerificationMaterial{PublicKey: &PublicKeyIdentifier{Hint: hint}},
		DSSEEnvelope: Envelope{
			PayloadType: payloadType,
			Payload:     payload,
			Signatures:  []Signature{{KeyID: "", Sig: sig}},
		},
	}
	out, err := marshalJSON(b, "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// VerifyPayload checks that bundle is a Sigstore bundle whose DSSE
// envelope has payload type payloadType and a signature by pub over its
// PAE bytes, and returns the payload. A missing or non-matching signature
// gives an error wrapping ErrSignature; the payload itself is not
// interpreted.
func VerifyPayload(bundle []byte, pub crypto.PublicKey, payloadType string) ([]byte, error) {
	rb, payload, err := openBundle(bundle, payloadType)
	if err != nil {
		return nil, err
	}
	if _, err := checkSignature(rb, payload, pub); err != nil {
		return nil, err
	}
	return payload, nil
}
