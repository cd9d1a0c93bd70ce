package artifacts

import (
	"crypto"
	"encoding/json"
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
	var rb rawBundle
	if err := json.Unmarshal(bundle, &rb); err != nil {
		return nil, fmt.Errorf("bundle is not valid JSON: %w", err)
	}
	if !bundleMediaTypes[rb.MediaType] {
		return nil, fmt.Errorf("bundle media type is %q, want %q", rb.MediaType, BundleMediaType)
	}
	env := rb.DSSEEnvelope
	if env == nil {
		return nil, errors.New("bundle has no dsseEnvelope")
	}
	if env.PayloadType != payloadType {
		return nil, fmt.Errorf("payload type is %q, want %q", env.PayloadType, payloadType)
	}
	payload, err := b64.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not valid base64", ErrSignature)
	}
	if pub == nil {
		return nil, errors.New("no public key given to check the signature with")
	}
	if err := checkKey(pub); err != nil {
		return nil, err
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("%w: it has no signatures", ErrSignature)
	}
	pae := PAE(env.PayloadType, payload)
	for _, s := range env.Signatures {
		if sig, err := b64.DecodeString(s.Sig); err == nil && verifyPAE(pub, pae, sig) {
			return payload, nil
		}
	}
	hint, err := KeyHint(pub)
	if err != nil {
		return nil, err
	}
	if vm := rb.VerificationMaterial.PublicKey; vm != nil && vm.Hint != "" && vm.Hint != hint {
		return nil, fmt.Errorf("%w: signed by key %s, not by this key %s", ErrSignature, vm.Hint, hint)
	}
	return nil, fmt.Errorf("%w: the signature does not match the public key (changed after signing?)", ErrSignature)
}
