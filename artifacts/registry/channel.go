package registry

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/bake-tool/bake/artifacts"
	"github.com/google/go-containerregistry/pkg/name"
)

// maxHistory bounds a walk down a channel's chain.
const maxHistory = 10000

// Record is a channel record as stored: the record and the digest of the
// manifest that carries it (what the next record names as Previous).
type Record struct {
	ChannelRecord
	Digest string `json:"digest"`
}

// SetOptions are the free-text fields of a record.
type SetOptions struct {
	// By says who made the change (user@host by default in the CLI).
	By     string
	Reason string
}

// SetChannel points channel at version with a new record signed by key:
// sequence one more than the current record's, which it names as
// Previous. The current record must verify with key's public key (a chain
// is extended only by its own signer); the version must exist, verify
// with that key too (as resolve will check it), and not be revoked under
// any name.
func (r *Repo) SetChannel(ctx context.Context, channel, version string, key crypto.Signer, o SetOptions) (*Record, error) {
	if err := checkChannelName(channel); err != nil {
		return nil, err
	}
	if err := checkVersionName(version); err != nil {
		return nil, err
	}
	return r.setChannel(ctx, channel, version, r.repo.Tag(version), key, o)
}

// setChannel writes channel's next record for version, whose manifest is
// at ref (its tag, or the digest an earlier record pinned). The version
// must verify with key's public key, as resolve will check it, and must
// not be revoked under any name.
func (r *Repo) setChannel(ctx context.Context, channel, version string, ref name.Reference, key crypto.Signer, o SetOptions) (*Record, error) {
	s, err := r.get(ctx, ref, "version "+version, ArtifactTypeVersion)
	if err != nil {
		return nil, err
	}
	if _, err := artifacts.Verify(s.Bundle, key.Public(), artifacts.VerifyOptions{}); err != nil {
		return nil, fmt.Errorf("version %s in %s: %w: %w (a channel only points at versions its key verifies)", version, r, ErrBadSignature, err)
	}
	digest := s.Digest.String()
	rev, err := r.revokedAs(ctx, version, digest, s.BundleDigest, key.Public())
	switch {
	case err != nil:
		return nil, err
	case rev != nil:
		return nil, fmt.Errorf("version %s in %s is %w (%s): a channel cannot point at it", version, r, ErrRevoked, rev.Reason)
	}
	rec := ChannelRecord{
		Repository:    r.repo.RepositoryStr(),
		Channel:       channel,
		Version:       version,
		VersionDigest: digest,
		Sequence:      1,
		Time:          r.opts.Now().UTC(),
		By:            o.By,
		Reason:        o.Reason,
	}
	head, err := r.Head(ctx, channel, key.Public())
	switch {
	case err == nil:
		rec.Sequence = head.Sequence + 1
		rec.Previous = head.Digest
	case errors.Is(err, ErrNotFound):
	case errors.Is(err, ErrBadSignature):
		return nil, fmt.Errorf("channel %s: the current record does not verify with this key, refusing to extend its chain: %w", channel, err)
	default:
		return nil, err
	}
	bundle, err := signRecord(PredicateTypeChannel, version, digest, &rec, key)
	if err != nil {
		return nil, err
	}
	h, err := r.put(ctx, channelTagPrefix+channel, ArtifactTypeChannel, bundle, map[string]string{
		"dev.bake.channel":  channel,
		"dev.bake.sequence": strconv.FormatUint(rec.Sequence, 10),
		"dev.bake.version":  version,
	})
	if err != nil {
		return nil, fmt.Errorf("set channel %s: %w", channel, err)
	}
	return &Record{ChannelRecord: rec, Digest: h.String()}, nil
}

// Head returns the current record of channel, verified with pub (nil:
// unchecked). It must be a record of this channel and repository.
func (r *Repo) Head(ctx context.Context, channel string, pub crypto.PublicKey) (*Record, error) {
	if err := checkChannelName(channel); err != nil {
		return nil, err
	}
	return r.record(ctx, r.repo.Tag(channelTagPrefix+channel), channel, pub)
}

// record reads the channel record at ref (the channel's tag, or a
// previous record's digest) and checks it as Head says.
func (r *Repo) record(ctx context.Context, ref name.Reference, channel string, pub crypto.PublicKey) (*Record, error) {
	what := "channel " + channel
	s, err := r.get(ctx, ref, what, ArtifactTypeChannel)
	if err != nil {
		return nil, err
	}
	rec, err := DecodeChannelRecord(s.Bundle, pub)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", what, r, err)
	}
	if rec.Channel != channel {
		return nil, fmt.Errorf("%s in %s: %w: the record is for channel %q (copied from another channel?)", what, r, ErrBadSignature, rec.Channel)
	}
	if rec.Repository != r.repo.RepositoryStr() {
		return nil, fmt.Errorf("%s in %s: %w: the record is for repository %q (copied from another repository?)", what, r, ErrBadSignature, rec.Repository)
	}
	return &Record{ChannelRecord: *rec, Digest: s.Digest.String()}, nil
}

// History returns channel's records, newest first, following the
// Previous digests from the current record down to the first. Each is
// verified with pub (nil: unchecked), and the sequence must go down by
// one at each step.
func (r *Repo) History(ctx context.Context, channel string, pub crypto.PublicKey) ([]*Record, error) {
	head, err := r.Head(ctx, channel, pub)
	if err != nil {
		return nil, err
	}
	out := []*Record{head}
	for cur := head; cur.Previous != "" && len(out) < maxHistory; {
		prev, err := r.record(ctx, r.repo.Digest(cur.Previous), channel, pub)
		if err != nil {
			return out, fmt.Errorf("history of channel %s at sequence %d: %w", channel, cur.Sequence, err)
		}
		if prev.Sequence != cur.Sequence-1 {
			return out, fmt.Errorf("history of channel %s: %w: record %d names a previous record with sequence %d", channel, ErrBadSignature, cur.Sequence, prev.Sequence)
		}
		out = append(out, prev)
		cur = prev
	}
	return out, nil
}

// Rollback points channel back at the version it pointed at before the
// current one (the newest earlier record with another version that is
// not revoked and not pruned), with a new record signed by key.
func (r *Repo) Rollback(ctx context.Context, channel string, key crypto.Signer, o SetOptions) (*Record, error) {
	hist, err := r.History(ctx, channel, key.Public())
	if err != nil {
		return nil, err
	}
	cur := hist[0]
	if o.Reason == "" {
		o.Reason = fmt.Sprintf("rollback from %s", cur.Version)
	}
	for _, rec := range hist[1:] {
		if rec.VersionDigest == cur.VersionDigest {
			continue
		}
		next, err := r.setChannel(ctx, channel, rec.Version, r.repo.Digest(rec.VersionDigest), key, o)
		if errors.Is(err, ErrRevoked) || errors.Is(err, ErrNotFound) {
			continue // revoked, or pruned since
		}
		return next, err
	}
	return nil, fmt.Errorf("channel %s in %s: %w: no earlier version to roll back to", channel, r, ErrNotFound)
}

// Channels returns the current record of every channel, by name. Records
// are verified with pub (nil: unchecked).
func (r *Repo) Channels(ctx context.Context, pub crypto.PublicKey) ([]*Record, error) {
	tags, err := r.tags(ctx)
	if err != nil {
		return nil, err
	}
	return r.channelHeads(ctx, tags, pub)
}

func (r *Repo) channelHeads(ctx context.Context, tags []string, pub crypto.PublicKey) ([]*Record, error) {
	var out []*Record
	for _, t := range tags {
		c, ok := strings.CutPrefix(t, channelTagPrefix)
		if !ok || checkChannelName(c) != nil {
			continue
		}
		h, err := r.Head(ctx, c, pub)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Channel < out[j].Channel })
	return out, nil
}

// Revoke records, signed by key, that version must no longer be
// deployed. Revoking a version already revoked by this key is a no-op
// that returns the existing revocation.
func (r *Repo) Revoke(ctx context.Context, version string, key crypto.Signer, o SetOptions) (*Revocation, error) {
	if strings.TrimSpace(o.Reason) == "" {
		return nil, errors.New("a revocation needs a reason")
	}
	if err := checkVersionName(version); err != nil {
		return nil, err
	}
	s, err := r.get(ctx, r.repo.Tag(version), "version "+version, ArtifactTypeVersion)
	if err != nil {
		return nil, err
	}
	digest := s.Digest.String()
	if rev, err := r.revocation(ctx, version, key.Public()); err == nil {
		return rev, nil
	}
	rev := &Revocation{
		Repository:    r.repo.RepositoryStr(),
		Version:       version,
		VersionDigest: digest,
		BundleDigest:  s.BundleDigest,
		Time:          r.opts.Now().UTC(),
		By:            o.By,
		Reason:        o.Reason,
	}
	bundle, err := signRecord(PredicateTypeRevocation, version, digest, rev, key)
	if err != nil {
		return nil, err
	}
	if _, err := r.put(ctx, revocationTagPrefix+version, ArtifactTypeRevocation, bundle, map[string]string{"dev.bake.version": version}); err != nil {
		return nil, fmt.Errorf("revoke %s: %w", version, err)
	}
	return rev, nil
}

// revocation returns version's revocation, verified with pub (nil:
// unchecked); ErrNotFound when there is none.
func (r *Repo) revocation(ctx context.Context, version string, pub crypto.PublicKey) (*Revocation, error) {
	s, err := r.get(ctx, r.repo.Tag(revocationTagPrefix+version), "revocation of "+version, ArtifactTypeRevocation)
	if err != nil {
		return nil, err
	}
	rev, err := DecodeRevocation(s.Bundle, pub)
	if err != nil {
		return nil, fmt.Errorf("revocation of %s in %s: %w", version, r, err)
	}
	if rev.Version != version || rev.Repository != r.repo.RepositoryStr() {
		return nil, fmt.Errorf("revocation of %s in %s: %w: the record is for %s/%s", version, r, ErrBadSignature, rev.Repository, rev.Version)
	}
	return rev, nil
}

// revokedAs returns the revocation that applies to a version named
// version with manifest digest and bundle digest: one made for that name,
// or any revocation of that manifest or that bundle (the same revoked run
// re-tagged under another name). Every revocation must verify with pub;
// nil, nil when none applies.
func (r *Repo) revokedAs(ctx context.Context, version, digest, bundleDigest string, pub crypto.PublicKey) (*Revocation, error) {
	tags, err := r.tags(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		v, ok := strings.CutPrefix(t, revocationTagPrefix)
		if !ok || checkVersionName(v) != nil {
			continue
		}
		rev, err := r.revocation(ctx, v, pub)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		if v == version || rev.VersionDigest == digest || rev.BundleDigest != "" && rev.BundleDigest == bundleDigest {
			return rev, nil
		}
	}
	return nil, nil
}

func sortVersions(vs []VersionInfo) {
	sort.SliceStable(vs, func(i, j int) bool {
		if !vs[i].Created.Equal(vs[j].Created) {
			return vs[i].Created.Before(vs[j].Created)
		}
		return vs[i].Name < vs[j].Name
	})
}
