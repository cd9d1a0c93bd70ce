package registry

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Kinds of deliverables, as Deliverable.Kind names them.
const (
	KindAMI   = "ami"
	KindImage = "image"
	KindFile  = "file"
)

// Deleter removes one kind of deliverable of a pruned version. bake prune
// wires one per kind: registry images and disk files here, AMIs through
// the amazon builder's client, so this package imports no builder.
//
// Contract: removing something already gone is no error (Removal.Gone
// says so); an error leaves the version in place, to be pruned again.
type Deleter interface {
	Delete(ctx context.Context, d Deliverable) (Removal, error)
}

// Removal is what a Deleter removed for one deliverable.
type Removal struct {
	Deliverable
	// Also lists what went with it: an AMI's snapshots, an image's
	// attestations.
	Also []string `json:"also,omitempty"`
	// Gone is true when it was not there any more.
	Gone bool `json:"gone,omitempty"`
}

// PruneOptions say which versions prune keeps.
type PruneOptions struct {
	// Keep is how many of the newest versions to keep (at least 1).
	Keep int
	// Key verifies the versions' bundles (what their artifacts are),
	// channel records and revocations; nil reads them unchecked, which is
	// enough to list a plan but not to remove anything.
	Key crypto.PublicKey
}

// PrunePlan is what Prune would remove, and why the rest stays.
type PrunePlan struct {
	Repository string `json:"repository"`
	Keep       int    `json:"keep"`
	// Verified is true when the plan was read with a key.
	Verified bool          `json:"verified"`
	Kept     []KeptVersion `json:"kept"`
	Prune    []PruneTarget `json:"prune"`
}

// KeptVersion is a version prune leaves, and why ("newest 3",
// "channel prod").
type KeptVersion struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// PruneTarget is a version prune removes, with its deliverables.
type PruneTarget struct {
	Name      string        `json:"name"`
	Digest    string        `json:"digest"`
	RunID     string        `json:"runId,omitempty"`
	Created   time.Time     `json:"created,omitzero"`
	Revoked   bool          `json:"revoked,omitempty"`
	Artifacts []Deliverable `json:"artifacts"`
}

// PlanPrune lists the versions beyond the newest o.Keep that no channel's
// current record points at, each with what its successful builds
// delivered (AMIs per region, images by digest, disk files). Revoked
// versions are not counted among the ones kept (nobody may deploy them)
// and are pruned like any other, unless a channel still points at one;
// their revocation records stay, so the same bundle stays refused
// wherever it is copied. Versions are ordered by their run's time.
func (r *Repo) PlanPrune(ctx context.Context, o PruneOptions) (*PrunePlan, error) {
	if o.Keep < 1 {
		return nil, fmt.Errorf("keep must be at least 1 (got %d)", o.Keep)
	}
	vs, err := r.Versions(ctx, o.Key)
	if err != nil {
		return nil, err
	}
	plan := &PrunePlan{Repository: r.String(), Keep: o.Keep, Verified: o.Key != nil, Kept: []KeptVersion{}, Prune: []PruneTarget{}}
	kept := 0
	var targets []VersionInfo
	keptDigests := map[string]string{}
	for i := len(vs) - 1; i >= 0; i-- { // newest first
		v := vs[i]
		switch {
		case len(v.Channels) > 0:
			plan.Kept = append(plan.Kept, KeptVersion{v.Name, "channel " + strings.Join(v.Channels, ",")})
		case !v.Revoked && kept < o.Keep:
			plan.Kept = append(plan.Kept, KeptVersion{v.Name, fmt.Sprintf("newest %d", o.Keep)})
		default:
			targets = append(targets, v)
			continue
		}
		if !v.Revoked {
			kept++
		}
		keptDigests[v.Digest] = v.Name
	}
	// What kept versions deliver stays, even when a pruned version lists
	// it too (a reproducible image, a cache hit).
	protected := map[string]string{}
	for _, k := range plan.Kept {
		p, err := r.prunePredicate(ctx, k.Name, "", o.Key)
		if err != nil {
			return nil, err
		}
		for _, d := range allDeliverables(p) {
			protected[d.Kind+" "+d.Region+" "+d.Ref] = k.Name
		}
	}
	for _, v := range targets {
		if other, ok := keptDigests[v.Digest]; ok {
			// One manifest under two names: deleting it would take the kept
			// name with it, and registries cannot remove a tag alone.
			plan.Kept = append(plan.Kept, KeptVersion{v.Name, "same manifest as " + other})
			continue
		}
		p, err := r.prunePredicate(ctx, v.Name, v.Digest, o.Key)
		if err != nil {
			return nil, err
		}
		t := PruneTarget{Name: v.Name, Digest: v.Digest, RunID: v.RunID, Created: v.Created, Revoked: v.Revoked, Artifacts: []Deliverable{}}
		for _, d := range allDeliverables(p) {
			if _, ok := protected[d.Kind+" "+d.Region+" "+d.Ref]; !ok {
				t.Artifacts = append(t.Artifacts, d)
			}
		}
		plan.Prune = append(plan.Prune, t)
	}
	return plan, nil
}

// prunePredicate reads version name (at digest when given, else its
// tag) and returns its predicate, verified with pub when it is set.
func (r *Repo) prunePredicate(ctx context.Context, version, digest string, pub crypto.PublicKey) (*artifacts.Predicate, error) {
	var ref name.Reference = r.repo.Tag(version)
	if digest != "" {
		ref = r.repo.Digest(digest)
	}
	s, err := r.get(ctx, ref, "version "+version, ArtifactTypeVersion)
	if err != nil {
		return nil, err
	}
	if pub != nil {
		ver, err := artifacts.Verify(s.Bundle, pub, artifacts.VerifyOptions{})
		if err != nil {
			return nil, fmt.Errorf("version %s in %s: %w: %w (prune removes only what a verified version lists)", version, r, ErrBadSignature, err)
		}
		return ver.Statement.Predicate, nil
	}
	st, _, err := inspectBundle(s.Bundle)
	if err != nil {
		return nil, fmt.Errorf("version %s in %s: %w", version, r, err)
	}
	return st.Predicate, nil
}

// allDeliverables lists what p's successful builds delivered, every AMI
// of every region included.
func allDeliverables(p *artifacts.Predicate) []Deliverable {
	var out []Deliverable
	for i := range p.Builds {
		b := &p.Builds[i]
		if b.Status != artifacts.StatusSucceeded {
			continue
		}
		if ds, err := deliverables(b, ""); err == nil {
			for _, d := range ds {
				if d.Kind == KindImage && !strings.Contains(d.Ref, "@") {
					continue // an image in a build machine's daemon, not in a registry: bake gc's
				}
				out = append(out, d)
			}
		} else if errors.Is(err, ErrNoRegion) { // several AMIs: all of them
			for _, it := range b.Artifacts {
				if it.Region != "" {
					out = append(out, Deliverable{Kind: KindAMI, Ref: it.ExternalIdentifier, Region: it.Region, URI: it.URI})
				}
			}
		}
	}
	return out
}

// PruneResult is what Prune did: for each version, what was removed and
// whether the version itself went.
type PruneResult struct {
	Repository string          `json:"repository"`
	Time       time.Time       `json:"time"`
	Versions   []PrunedVersion `json:"versions"`
}

// PrunedVersion is one version's outcome.
type PrunedVersion struct {
	Name    string    `json:"name"`
	Digest  string    `json:"digest"`
	Removed []Removal `json:"removed"`
	// Deleted is true when the version's artifact was removed from the
	// registry; false when one of its deliverables could not be, so that
	// a later prune finds it again.
	Deleted bool `json:"deleted"`
	// Errors are why something stayed.
	Errors []string `json:"errors,omitempty"`
}

// Prune carries out plan, which must have been made with a key: each
// version's deliverables through the deleter of their kind, then, when
// all of them are gone, the version itself (its tag and manifest). A
// deliverable of a kind with no deleter, or one that fails, keeps its
// version, so that nothing a version lists is left untracked. Each
// version is independent: one failing does not stop the next. The error
// joins what failed.
func (r *Repo) Prune(ctx context.Context, plan *PrunePlan, deleters map[string]Deleter) (*PruneResult, error) {
	if !plan.Verified {
		return nil, errors.New("prune: the plan was not verified (give the public key)")
	}
	res := &PruneResult{Repository: plan.Repository, Time: r.opts.Now().UTC(), Versions: []PrunedVersion{}}
	var errs []error
	for _, t := range plan.Prune {
		pv := PrunedVersion{Name: t.Name, Digest: t.Digest, Removed: []Removal{}}
		for _, d := range t.Artifacts {
			del := deleters[d.Kind]
			if del == nil {
				pv.Errors = append(pv.Errors, fmt.Sprintf("%s %s: no deleter for %s artifacts", d.Kind, d.Ref, d.Kind))
				continue
			}
			rm, err := del.Delete(ctx, d)
			if err != nil {
				pv.Errors = append(pv.Errors, fmt.Sprintf("%s %s: %v", d.Kind, d.Ref, err))
				continue
			}
			pv.Removed = append(pv.Removed, rm)
		}
		if len(pv.Errors) == 0 {
			if err := r.deleteTagged(ctx, t.Name, t.Digest); err != nil {
				pv.Errors = append(pv.Errors, fmt.Sprintf("version %s: %v", t.Name, err))
			} else {
				pv.Deleted = true
			}
		}
		for _, e := range pv.Errors {
			errs = append(errs, fmt.Errorf("version %s kept: %s", t.Name, e))
		}
		res.Versions = append(res.Versions, pv)
	}
	return res, errors.Join(errs...)
}

// deleteManifest deletes the manifest dig of r; one already gone is no
// error.
func (r *Repo) deleteManifest(ctx context.Context, dig string) error {
	err := remote.Delete(r.repo.Digest(dig), r.remote(ctx)...)
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusMethodNotAllowed {
		return fmt.Errorf("delete %s in %s: the registry does not allow deletes (distribution: set storage.delete.enabled: true): %w", dig, r, err)
	}
	if err = r.classify("delete "+dig, err); errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// deleteTagged deletes the manifest dig that tag names, and the tag:
// distribution drops a manifest's tags with it and refuses to delete a
// tag alone, other registries (go-containerregistry's) keep tags until
// they are deleted by name. Either way the tag must be gone after.
func (r *Repo) deleteTagged(ctx context.Context, tag, dig string) error {
	_ = remote.Delete(r.repo.Tag(tag), r.remote(ctx)...) // refused by distribution; checked below
	if err := r.deleteManifest(ctx, dig); err != nil {
		return err
	}
	if _, err := remote.Head(r.repo.Tag(tag), r.remote(ctx)...); err == nil {
		return fmt.Errorf("tag %s in %s remains after its manifest %s was deleted", tag, r, dig)
	}
	return nil
}

// ImageDeleter deletes pushed images by digest from their registry, with
// the attestations bake attached to them (cosign's .att tag and bake's
// referrers).
type ImageDeleter struct {
	Options Options
}

var _ Deleter = ImageDeleter{}

// Delete implements Deleter.
func (d ImageDeleter) Delete(ctx context.Context, del Deliverable) (Removal, error) {
	rm := Removal{Deliverable: del}
	ref, err := name.NewDigest(del.Ref)
	if err != nil {
		return rm, fmt.Errorf("image %q is not REG/REPO@sha256:…: %w", del.Ref, err)
	}
	r, err := Open(ref.Context().Name(), d.Options)
	if err != nil {
		return rm, err
	}
	if desc, err := remote.Head(r.repo.Tag(attTag(ref)), r.remote(ctx)...); err == nil {
		if err := r.deleteTagged(ctx, attTag(ref), desc.Digest.String()); err != nil {
			return rm, err
		}
		rm.Also = append(rm.Also, "attestations "+attTag(ref))
	}
	if ok, refs, err := r.referrers(ctx, ref); err == nil && ok {
		for _, x := range refs {
			if err := r.deleteManifest(ctx, x.Digest.String()); err != nil {
				return rm, err
			}
			rm.Also = append(rm.Also, "referrer "+x.Digest.String())
		}
	}
	if _, err := remote.Head(ref, r.remote(ctx)...); err != nil {
		if err := r.classify("image "+ref.DigestStr(), err); errors.Is(err, ErrNotFound) {
			rm.Gone = true
			return rm, nil
		}
		return rm, r.classify("image "+ref.DigestStr(), err)
	}
	return rm, r.deleteManifest(ctx, ref.DigestStr())
}

// FileDeleter removes disk files a version lists, only while their sha256
// is the one recorded: a file rebuilt under the same name since stays.
// Relative paths are taken from Dir ("" is the working directory), since
// a run manifest records them as the build saw them.
type FileDeleter struct {
	Dir string
}

var _ Deleter = FileDeleter{}

// Delete implements Deleter.
func (d FileDeleter) Delete(_ context.Context, del Deliverable) (Removal, error) {
	rm := Removal{Deliverable: del}
	path := del.Ref
	if !filepath.IsAbs(path) && d.Dir != "" {
		path = filepath.Join(d.Dir, path)
	}
	sum, _, err := artifacts.FileSHA256(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		rm.Gone = true
		return rm, nil
	case err != nil:
		return rm, err
	case sum != del.SHA256:
		return rm, fmt.Errorf("%s has sha256 %s, not the version's %s: another build wrote it since, so it stays", path, sum, del.SHA256)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return rm, err
	}
	return rm, nil
}
