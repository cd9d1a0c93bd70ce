package artifacts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrUnsigned is returned (wrapped) by Verify for a manifest without
// signatures when unsigned manifests are not allowed.
var ErrUnsigned = errors.New("manifest is unsigned")

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// AllowUnsigned accepts a bundle with no signatures (the signature
	// check is skipped; everything else is checked) when no public key is
	// given. With a key, an unsigned bundle is always refused.
	AllowUnsigned bool
	// Artifacts are local files whose sha256 must each be a subject of the
	// manifest, made by a build that succeeded.
	Artifacts []string
	// AllowFailed also accepts a file that a failed or cancelled build
	// left (listed under that build, but no subject).
	AllowFailed bool
}

// Verified is what Verify established.
type Verified struct {
	// Statement is the verified statement.
	Statement *Statement
	// Signed reports whether a signature was checked; false only for an
	// unsigned bundle accepted with AllowUnsigned.
	Signed bool
	// KeyHint is the hint of the key the signature was checked with.
	KeyHint string
	// Artifacts are the files checked against the subjects, in the order
	// given.
	Artifacts []VerifiedArtifact
}

// VerifiedArtifact is a local file found among the subjects.
type VerifiedArtifact struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Subject string `json:"subject"`
	// Build is the build that made the file, and Status how it ended.
	Build  string      `json:"build"`
	Status BuildStatus `json:"status"`
}

// rawBundle mirrors Bundle with the byte fields as strings, so that bad
// base64 is reported by field.
type rawBundle struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial struct {
		PublicKey *PublicKeyIdentifier `json:"publicKey"`
	} `json:"verificationMaterial"`
	DSSEEnvelope *struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
}

// bundleMediaTypes are the spellings of the Sigstore bundle v0.3 media type.
var bundleMediaTypes = map[string]bool{
	BundleMediaType: true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
}

// Verify checks a run manifest bundle: its media type, the DSSE payload
// type, a signature by pub over the PAE bytes, the statement type, that
// the predicate type is one bake knows, and that every file in
// opts.Artifacts has its sha256 among the subjects and was made by a
// build that succeeded (a failed or cancelled build's file is refused,
// naming the build, unless opts.AllowFailed). Every error names its
// cause; an unsigned bundle gives ErrUnsigned when pub is given, and
// otherwise unless opts.AllowUnsigned.
func Verify(bundle []byte, pub crypto.PublicKey, opts VerifyOptions) (*Verified, error) {
	rb, payload, err := openBundle(bundle, PayloadType)
	if err != nil {
		return nil, err
	}

	v := &Verified{}
	if len(rb.DSSEEnvelope.Signatures) == 0 {
		switch {
		case pub != nil:
			// A key says the caller expects a signature: one that was
			// stripped must not downgrade the check to "unsigned".
			return nil, fmt.Errorf("%w: it has no signatures, and a key was given to check one with (was the signature removed?)", ErrUnsigned)
		case !opts.AllowUnsigned:
			return nil, fmt.Errorf("%w: it has no signatures (accept it with -allow-unsigned)", ErrUnsigned)
		}
	} else {
		hint, err := checkSignature(rb, payload, pub)
		if err != nil {
			return nil, err
		}
		v.Signed = true
		v.KeyHint = hint
	}

	var st Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("statement is not valid JSON: %w", err)
	}
	if st.Type != StatementType {
		return nil, fmt.Errorf("statement type is %q, want %q", st.Type, StatementType)
	}
	if !knownPredicateTypes[st.PredicateType] {
		return nil, fmt.Errorf("unknown predicate type %q (this bake knows %s)", st.PredicateType, strings.Join(sortedKeys(knownPredicateTypes), ", "))
	}
	if st.Predicate == nil {
		return nil, errors.New("statement has no predicate")
	}
	bySum := map[string]string{}
	for i, s := range st.Subject {
		sum := s.Digest["sha256"]
		if !isHexSHA256(sum) {
			return nil, fmt.Errorf("subject %d (%s) has no valid sha256 digest", i, s.Name)
		}
		if _, dup := bySum[sum]; !dup {
			bySum[sum] = s.Name
		}
	}
	v.Statement = &st

	owners := artifactOwners(st.Predicate)
	var errs []error
	for _, path := range opts.Artifacts {
		sum, _, err := FileSHA256(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("artifact %s: %w", path, err))
			continue
		}
		name, isSubject := bySum[sum]
		o := owners[sum]
		switch {
		case o.build != "" && o.status != StatusSucceeded:
			if !opts.AllowFailed {
				errs = append(errs, fmt.Errorf("artifact %s belongs to build %s, which %s: refused (accept it with -allow-failed)", path, o.build, statusPhrase(o.status)))
				continue
			}
		case !isSubject:
			errs = append(errs, fmt.Errorf("artifact %s (sha256 %s) is not a subject of the manifest", path, sum))
			continue
		}
		v.Artifacts = append(v.Artifacts, VerifiedArtifact{Path: path, SHA256: sum, Subject: name, Build: o.build, Status: o.status})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return v, nil
}

// owner is the build an artifact digest is listed under.
type owner struct {
	build  string
	status BuildStatus
}

// artifactOwners maps each sha256 (hex) listed among the builds'
// artifacts to its build; a build that succeeded wins over one that did
// not, so a file several builds made counts as good when one succeeded.
func artifactOwners(p *Predicate) map[string]owner {
	owners := map[string]owner{}
	for _, b := range p.Builds {
		for _, it := range b.Artifacts {
			sum, ok := strings.CutPrefix(it.Digest, "sha256:")
			if !ok {
				continue
			}
			if o, seen := owners[sum]; !seen || o.status != StatusSucceeded && b.Status == StatusSucceeded {
				owners[sum] = owner{b.Name, b.Status}
			}
		}
	}
	return owners
}

// statusPhrase completes "build X, which …".
func statusPhrase(s BuildStatus) string {
	switch s {
	case StatusFailed:
		return "failed"
	case StatusCancelled:
		return "was cancelled"
	}
	return fmt.Sprintf("ended %q", s)
}

// verifyPAE reports whether sig is pub's signature over pae.
func verifyPAE(pub crypto.PublicKey, pae, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(pae)
		return ecdsa.VerifyASN1(k, sum[:], sig)
	case ed25519.PublicKey:
		return ed25519.Verify(k, pae, sig)
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// openBundle decodes a Sigstore bundle and the payload of its DSSE
// envelope, which must be of payloadType. The signatures are not checked.
func openBundle(bundle []byte, payloadType string) (*rawBundle, []byte, error) {
	var rb rawBundle
	if err := json.Unmarshal(bundle, &rb); err != nil {
		return nil, nil, fmt.Errorf("bundle is not valid JSON: %w", err)
	}
	if !bundleMediaTypes[rb.MediaType] {
		return nil, nil, fmt.Errorf("bundle media type is %q, want %q", rb.MediaType, BundleMediaType)
	}
	env := rb.DSSEEnvelope
	if env == nil {
		return nil, nil, errors.New("bundle has no dsseEnvelope")
	}
	if env.PayloadType != payloadType {
		return nil, nil, fmt.Errorf("payload type is %q, want %q", env.PayloadType, payloadType)
	}
	payload, err := b64.DecodeString(env.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("payload is not valid base64: it was changed after signing (%w)", ErrSignature)
	}
	return &rb, payload, nil
}

// checkSignature checks that one of rb's signatures is pub's over the PAE
// of payload and returns pub's hint. A missing or non-matching signature
// gives an error wrapping ErrSignature, naming both keys when the bundle
// names another.
func checkSignature(rb *rawBundle, payload []byte, pub crypto.PublicKey) (string, error) {
	env := rb.DSSEEnvelope
	if len(env.Signatures) == 0 {
		return "", fmt.Errorf("it has no signatures (%w)", ErrSignature)
	}
	if pub == nil {
		return "", errors.New("no public key given to check the signature with")
	}
	if err := checkKey(pub); err != nil {
		return "", err
	}
	hint, err := KeyHint(pub)
	if err != nil {
		return "", err
	}
	pae := PAE(env.PayloadType, payload)
	for _, s := range env.Signatures {
		if sig, err := b64.DecodeString(s.Sig); err == nil && verifyPAE(pub, pae, sig) {
			return hint, nil
		}
	}
	if vm := rb.VerificationMaterial.PublicKey; vm != nil && vm.Hint != "" && vm.Hint != hint {
		return "", fmt.Errorf("signature does not match the public key: the bundle names signing key %s, this key is %s (signed by another key?) (%w)", vm.Hint, hint, ErrSignature)
	}
	return "", fmt.Errorf("signature does not match the public key: the bundle or its signature was changed after signing (%w)", ErrSignature)
}
