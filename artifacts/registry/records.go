package registry

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts"
)

// Predicate types of the signed records.
const (
	PredicateTypeChannel    = "https://bake.dev/channel/v1"
	PredicateTypeRevocation = "https://bake.dev/revocation/v1"
)

// ChannelRecord is one signed step of a channel: which version the
// channel points at from now on. Records form a chain: each names the
// manifest digest of the one before and carries the next sequence number,
// so a deployer that remembers a sequence can refuse an older record
// replayed at the channel's tag.
type ChannelRecord struct {
	// Repository is the repository path (without the registry host, so a
	// mirror's copy still verifies).
	Repository string `json:"repository"`
	Channel    string `json:"channel"`
	// Version is the version name and VersionDigest the digest of its
	// manifest ("sha256:…"), which is what the record pins.
	Version       string `json:"version"`
	VersionDigest string `json:"versionDigest"`
	// Previous is the manifest digest of the record this one follows; ""
	// for the first.
	Previous string `json:"previous,omitempty"`
	// Sequence is 1 for a channel's first record and one more for each
	// after it.
	Sequence uint64    `json:"sequence"`
	Time     time.Time `json:"time"`
	By       string    `json:"by,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// Revocation is the signed record that a version must no longer be
// deployed.
type Revocation struct {
	Repository    string `json:"repository"`
	Version       string `json:"version"`
	VersionDigest string `json:"versionDigest"`
	// BundleDigest is the digest of the version's run manifest bundle, so
	// the same bundle is refused under any other name or manifest.
	BundleDigest string    `json:"bundleDigest,omitempty"`
	Time         time.Time `json:"time"`
	By           string    `json:"by,omitempty"`
	Reason       string    `json:"reason"`
}

// recordStatement is the in-toto statement a record is signed as; its
// subject is the version's manifest.
type recordStatement struct {
	Type          string              `json:"_type"`
	Subject       []artifacts.Subject `json:"subject"`
	PredicateType string              `json:"predicateType"`
	Predicate     json.RawMessage     `json:"predicate"`
}

// signRecord signs pred (a *ChannelRecord or *Revocation) as an in-toto
// statement about the version's manifest digest.
func signRecord(predicateType, version, versionDigest string, pred any, key crypto.Signer) ([]byte, error) {
	p, err := json.Marshal(pred)
	if err != nil {
		return nil, fmt.Errorf("marshal record: %w", err)
	}
	hexSum, ok := strings.CutPrefix(versionDigest, "sha256:")
	if !ok {
		return nil, fmt.Errorf("version digest %q is not sha256", versionDigest)
	}
	st := recordStatement{
		Type:          artifacts.StatementType,
		Subject:       []artifacts.Subject{{Name: version, Digest: map[string]string{"sha256": hexSum}}},
		PredicateType: predicateType,
		Predicate:     p,
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("marshal record: %w", err)
	}
	return artifacts.SignPayload(artifacts.PayloadType, payload, key)
}

// openRecord checks bundle's signature by pub (nil: not checked, for
// listings that say so) and returns its statement, which must be of
// predicateType and name the version digest as its subject.
func openRecord(bundle []byte, pub crypto.PublicKey, predicateType string) (*recordStatement, error) {
	var payload []byte
	if pub != nil {
		p, err := artifacts.VerifyPayload(bundle, pub, artifacts.PayloadType)
		if err != nil {
			// Unsigned, signed by another key, or not a bundle at all: a
			// record that does not verify is not trusted, whatever the cause.
			return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		payload = p
	} else {
		var b artifacts.Bundle
		if err := json.Unmarshal(bundle, &b); err != nil {
			return nil, fmt.Errorf("bundle is not valid JSON: %w", err)
		}
		if b.DSSEEnvelope.PayloadType != artifacts.PayloadType {
			return nil, fmt.Errorf("payload type is %q, want %q", b.DSSEEnvelope.PayloadType, artifacts.PayloadType)
		}
		payload = b.DSSEEnvelope.Payload
	}
	var st recordStatement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("record statement is not valid JSON: %w", err)
	}
	if st.Type != artifacts.StatementType {
		return nil, fmt.Errorf("record statement type is %q, want %q", st.Type, artifacts.StatementType)
	}
	if st.PredicateType != predicateType {
		return nil, fmt.Errorf("record predicate type is %q, want %q", st.PredicateType, predicateType)
	}
	if len(st.Subject) != 1 || len(st.Subject[0].Digest["sha256"]) != 64 {
		return nil, errors.New("record statement must have one subject with a sha256 digest")
	}
	return &st, nil
}

// DecodeChannelRecord checks a channel record bundle's signature by pub
// (nil: unchecked) and returns the record. The record must agree with the
// statement's subject.
func DecodeChannelRecord(bundle []byte, pub crypto.PublicKey) (*ChannelRecord, error) {
	st, err := openRecord(bundle, pub, PredicateTypeChannel)
	if err != nil {
		return nil, err
	}
	var rec ChannelRecord
	if err := json.Unmarshal(st.Predicate, &rec); err != nil {
		return nil, fmt.Errorf("channel record is not valid JSON: %w", err)
	}
	switch {
	case checkChannelName(rec.Channel) != nil:
		return nil, fmt.Errorf("channel record names no valid channel (%q)", rec.Channel)
	case rec.Sequence == 0:
		return nil, errors.New("channel record has no sequence number")
	case rec.Sequence == 1 && rec.Previous != "" || rec.Sequence > 1 && !isDigest(rec.Previous):
		return nil, fmt.Errorf("channel record %d has a bad previous digest %q", rec.Sequence, rec.Previous)
	case rec.VersionDigest != "sha256:"+st.Subject[0].Digest["sha256"]:
		return nil, errors.New("channel record's version digest differs from its subject")
	}
	return &rec, nil
}

// DecodeRevocation checks a revocation bundle's signature by pub (nil:
// unchecked) and returns the revocation.
func DecodeRevocation(bundle []byte, pub crypto.PublicKey) (*Revocation, error) {
	st, err := openRecord(bundle, pub, PredicateTypeRevocation)
	if err != nil {
		return nil, err
	}
	var rev Revocation
	if err := json.Unmarshal(st.Predicate, &rev); err != nil {
		return nil, fmt.Errorf("revocation is not valid JSON: %w", err)
	}
	if rev.VersionDigest != "sha256:"+st.Subject[0].Digest["sha256"] {
		return nil, errors.New("revocation's version digest differs from its subject")
	}
	return &rev, nil
}

func isDigest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
