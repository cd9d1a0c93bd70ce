package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bake-tool/bake/artifacts/sbom"
	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/provisioners"
)

// newCacheBuild is the job's view of the cache, nil without one.
func (r *jobRun) newCacheBuild() *cache.Build {
	if r.opts.Cache == nil {
		return nil
	}
	return &cache.Build{Store: r.opts.Cache, RunID: r.opts.RunID, Name: r.job.Name, StepKeys: r.stepKeys}
}

// stepKeys is StepKeys for the job, saying on the build's output why a
// step is not cacheable.
func (r *jobRun) stepKeys(base cache.Key, info provisioners.BuildInfo) ([]cache.StepKey, error) {
	return StepKeys(r.job, base, r.completeInfo(info), func(p *ProvisionerStep, why string) {
		r.ui.Say(fmt.Sprintf("cache: %s and the steps after it always run: %s", p.Label(), r.opts.Redactor.String(why)))
	}), nil
}

// StepKeys chains base with each of job's provisioners' own key: its type
// and whatever its Keyer adds (its configuration evaluated for info, and
// the contents of the files it names). A step set `cache = false`, a
// provisioner that is not a Keyer, or one whose key cannot be computed
// gets the zero key, and so does every step after it: they always run.
// notCached, when set, is told the first such step and why.
func StepKeys(job *Job, base cache.Key, info provisioners.BuildInfo, notCached func(p *ProvisionerStep, why string)) []cache.StepKey {
	keys := make([]cache.StepKey, len(job.Provisioners))
	prev := base
	for i, p := range job.Provisioners {
		keys[i].Label = p.Label()
		if prev == "" {
			continue
		}
		own, why := ownKey(p, info)
		if why != "" && notCached != nil {
			notCached(p, why)
		}
		prev = cache.Chain(prev, own)
		keys[i].Key = prev
	}
	return keys
}

// ownKey is p's own key, or the zero key and why.
func ownKey(p *ProvisionerStep, info provisioners.BuildInfo) (cache.Key, string) {
	if p.NoCache {
		return "", "cache = false"
	}
	prov, err := p.Make(info)
	if err != nil {
		var d *DiagnosticsError
		if errors.As(err, &d) {
			return "", "its configuration has errors"
		}
		return "", err.Error()
	}
	k, ok := prov.(cache.Keyer)
	if !ok {
		return "", fmt.Sprintf("a %s provisioner's effect is not known from its configuration", p.Type)
	}
	h := cache.NewHasher("provisioner " + p.Type)
	if err := k.CacheKey(h); err != nil {
		return "", err.Error()
	}
	sum, err := h.Sum()
	if err != nil {
		return "", err.Error()
	}
	return sum, ""
}

// afterStep lets the builder store the state provisioner i left, when it
// asked to (Resume). A failure to store is reported, not fatal: the build
// goes on without that entry.
func (r *jobRun) afterStep(ctx context.Context, after cache.AfterStep, i int) error {
	if after == nil {
		return nil
	}
	keys := r.cache.Records()
	if i >= len(keys) || keys[i].Key == "" {
		return nil
	}
	if err := after(ctx, i, keys[i].Key); err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.ui.Error(fmt.Sprintf("cache: store the state after %s: %s", r.job.Provisioners[i].Label(), r.errText(err)))
	}
	return nil
}

// inventoryBlob is the file, beside a build's final cache entry, that
// keeps the machine's package inventory.
const inventoryBlob = "inventory.json"

// cacheInventory keeps the inventory taken in a build whose result the
// cache stores, and hands it out again when the build was reused whole
// (no machine ran, so none was taken): the SBOM of a reused image is the
// one of the build that made it.
func (r *jobRun) cacheInventory() {
	final, reused := r.cache.Final()
	if !r.opts.Inventory || final == "" {
		return
	}
	store := r.cache.Store
	if !reused {
		if r.inventory == nil {
			return
		}
		b, err := json.Marshal(r.inventory)
		if err == nil {
			err = store.WriteBlob(final, inventoryBlob, b)
		}
		if err != nil {
			r.ui.Error(fmt.Sprintf("cache: keep the package inventory: %s", r.errText(err)))
		}
		return
	}
	b, err := store.ReadBlob(final, inventoryBlob)
	var inv sbom.Inventory
	if err == nil {
		err = json.Unmarshal(b, &inv)
	}
	if err != nil {
		r.ui.Error(fmt.Sprintf("warning: no SBOM for this build: the cached build's package inventory: %s", r.errText(err)))
		return
	}
	r.inventory = &inv
}
