package artifacts

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
)

// Bundle is a Sigstore bundle v0.3 carrying a DSSE envelope, the file
// format of a run manifest (<name>.sigstore.json).
type Bundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial VerificationMaterial `json:"verificationMaterial"`
	DSSEEnvelope         Envelope             `json:"dsseEnvelope"`
}

// VerificationMaterial names the key that signed a bundle. An unsigned
// bundle has none.
type VerificationMaterial struct {
	PublicKey *PublicKeyIdentifier `json:"publicKey,omitempty"`
}

// PublicKeyIdentifier is a hint at the signing key: the base64 sha256 of
// its PKIX DER (see KeyHint).
type PublicKeyIdentifier struct {
	Hint string `json:"hint"`
}

// Envelope is a DSSE envelope. Payload is standard base64 in JSON.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature. KeyID stays empty: cosign skips a
// signature whose keyid it does not recognise.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// PAE returns DSSE's pre-authentication encoding of a payload, the bytes
// a signature covers:
//
//	"DSSEv1" SP len(type) SP type SP len(payload) SP payload
//
// with lengths in decimal bytes.
func PAE(payloadType string, payload []byte) []byte {
	b := make([]byte, 0, 32+len(payloadType)+len(payload))
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	return append(b, payload...)
}

// signPAE signs pae with key: ECDSA over its SHA-256 (ASN.1 DER),
// Ed25519 over the bytes themselves.
func signPAE(key crypto.Signer, pae []byte) ([]byte, error) {
	if err := checkKey(key.Public()); err != nil {
		return nil, err
	}
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		return key.Sign(rand.Reader, pae, crypto.Hash(0))
	}
	sum := sha256.Sum256(pae)
	return key.Sign(rand.Reader, sum[:], crypto.SHA256)
}

// SignStatement wraps stmt in a DSSE envelope signed by key, inside a
// Sigstore bundle, and returns the bundle's JSON (indented, ending in a
// newline). With a nil key the bundle is unsigned: its envelope has an
// empty signatures list and there is no public key hint, and Verify
// refuses it unless told to allow unsigned manifests.
func SignStatement(stmt *Statement, key crypto.Signer) ([]byte, error) {
	payload, err := stmt.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal statement: %w", err)
	}
	b := &Bundle{
		MediaType: BundleMediaType,
		DSSEEnvelope: Envelope{
			PayloadType: PayloadType,
			Payload:     payload,
			Signatures:  []Signature{},
		},
	}
	if key != nil {
		sig, err := signPAE(key, PAE(PayloadType, payload))
		if err != nil {
			return nil, fmt.Errorf("sign manifest: %w", err)
		}
		hint, err := KeyHint(key.Public())
		if err != nil {
			return nil, fmt.Errorf("sign manifest: %w", err)
		}
		b.VerificationMaterial.PublicKey = &PublicKeyIdentifier{Hint: hint}
		b.DSSEEnvelope.Signatures = []Signature{{KeyID: "", Sig: sig}}
	}
	out, err := marshalJSON(b, "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// WriteRunManifest signs stmt with key (nil: unsigned) and writes the
// bundle to path atomically, mode 0644. It is what the engine calls once
// all builds have finished.
func WriteRunManifest(path string, stmt *Statement, key crypto.Signer) error {
	data, err := SignStatement(stmt, key)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o644)
}

// b64 is the encoding of the bundle's byte fields.
var b64 = base64.StdEncoding
