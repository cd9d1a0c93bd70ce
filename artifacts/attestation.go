package artifacts

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
)

// Predicate types of the statements bake signs besides the run manifest.
const (
	// PredicateTypeSPDX is the SPDX document predicate (cosign --type
	// spdxjson).
	PredicateTypeSPDX = "https://spdx.dev/Document"
	// PredicateTypeSLSAProvenanceV1 is SLSA provenance v1 (cosign --type
	// slsaprovenance1).
	PredicateTypeSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
)

// Attestation is an in-toto Statement v1 with any predicate, kept as the
// raw JSON it was made from: the SBOM and the provenance statements.
type Attestation struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// NewAttestation returns the statement about subjects whose predicate is
// predicate marshalled to JSON.
func NewAttestation(subjects []Subject, predicateType string, predicate any) (*Attestation, error) {
	raw, err := marshalJSON(predicate, "")
	if err != nil {
		return nil, fmt.Errorf("marshal %s predicate: %w", predicateType, err)
	}
	if subjects == nil {
		subjects = []Subject{}
	}
	return &Attestation{Type: StatementType, Subject: subjects, PredicateType: predicateType, Predicate: raw}, nil
}

// SignAttestation wraps a in a DSSE envelope signed by key inside a
// Sigstore bundle, as SignStatement does for the run manifest; with a nil
// key the bundle is unsigned (no signatures, no key hint).
func SignAttestation(a *Attestation, key crypto.Signer) ([]byte, error) {
	payload, err := marshalJSON(a, "")
	if err != nil {
		return nil, fmt.Errorf("marshal statement: %w", err)
	}
	if key != nil {
		return SignPayload(PayloadType, payload, key)
	}
	b := &Bundle{
		MediaType:    BundleMediaType,
		DSSEEnvelope: Envelope{PayloadType: PayloadType, Payload: payload, Signatures: []Signature{}},
	}
	out, err := marshalJSON(b, "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// VerifyAttestation checks an attestation bundle as Verify checks a run
// manifest: media and payload type, the signature by pub (an unsigned
// bundle only when pub is nil and allowUnsigned), the statement type and
// that the predicate type is predicateType. It returns the statement and
// whether a signature was checked.
func VerifyAttestation(bundle []byte, pub crypto.PublicKey, predicateType string, allowUnsigned bool) (*Attestation, bool, error) {
	rb, payload, err := openBundle(bundle, PayloadType)
	if err != nil {
		return nil, false, err
	}
	signed := false
	if len(rb.DSSEEnvelope.Signatures) == 0 {
		if pub != nil {
			return nil, false, fmt.Errorf("%w: it has no signatures, and a key was given to check one with (was the signature removed?)", ErrUnsigned)
		}
		if !allowUnsigned {
			return nil, false, fmt.Errorf("%w: it has no signatures (accept it with -allow-unsigned)", ErrUnsigned)
		}
	} else {
		if _, err := checkSignature(rb, payload, pub); err != nil {
			return nil, false, err
		}
		signed = true
	}
	var a Attestation
	if err := json.Unmarshal(payload, &a); err != nil {
		return nil, false, fmt.Errorf("statement is not valid JSON: %w", err)
	}
	if a.Type != StatementType {
		return nil, false, fmt.Errorf("statement type is %q, want %q", a.Type, StatementType)
	}
	if a.PredicateType != predicateType {
		return nil, false, fmt.Errorf("predicate type is %q, want %q", a.PredicateType, predicateType)
	}
	if len(a.Predicate) == 0 || string(a.Predicate) == "null" {
		return nil, false, errors.New("statement has no predicate")
	}
	for i, s := range a.Subject {
		if !isHexSHA256(s.Digest["sha256"]) {
			return nil, false, fmt.Errorf("subject %d (%s) has no valid sha256 digest", i, s.Name)
		}
	}
	return &a, signed, nil
}

// BuildSubjects returns the subjects of stmt that are artifacts of the
// build named build (those listed under it whose digest is a subject), in
// subject order. A failed build has none: its artifacts are no subjects.
func BuildSubjects(stmt *Statement, build string) []Subject {
	if stmt == nil || stmt.Predicate == nil {
		return nil
	}
	mine := map[string]bool{}
	for _, b := range stmt.Predicate.Builds {
		if b.Name != build {
			continue
		}
		for _, it := range b.Artifacts {
			if sum, ok := cutSHA256(it.Digest); ok {
				mine[sum] = true
			}
		}
	}
	var out []Subject
	for _, s := range stmt.Subject {
		if mine[s.Digest["sha256"]] {
			out = append(out, s)
		}
	}
	return out
}

func cutSHA256(d string) (string, bool) {
	if len(d) != len("sha256:")+64 || d[:7] != "sha256:" {
		return "", false
	}
	return d[7:], isHexSHA256(d[7:])
}
