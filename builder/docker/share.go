package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/cache/share"
)

// pullShared looks for k's image (of kind) in the -cache-from registry
// and, when it is there, loads it into the engine tagged as the local
// cache tags it, records it in the local index (with the run that made
// it) and returns that entry and the image's whole size. A registry that
// cannot be reached or refuses is a warning: the build goes on without it.
func (b *Builder) pullShared(ctx context.Context, s *state, k cache.Key, kind string) (*cache.Entry, int64) {
	sh := b.opts.SharedCache
	if k == "" || !sh.CanRead() {
		return nil, 0
	}
	img, meta, err := sh.Image(ctx, k, kind)
	if errors.Is(err, share.ErrNotFound) {
		return nil, 0
	}
	if err != nil {
		s.ui.Error(fmt.Sprintf("warning: cache: %s; going on without the shared cache", err))
		return nil, 0
	}
	t0 := time.Now()
	e, err := b.loadShared(ctx, s, k, kind, img, meta)
	if err != nil {
		if ctx.Err() == nil {
			s.ui.Error(fmt.Sprintf("warning: cache: load %s from %s: %s; going on without it", k.Short(), sh.From(), err))
		}
		return nil, 0
	}
	s.ui.Say(fmt.Sprintf("cache: pulled image %s (key %s, built by run %s) from %s in %s",
		short(e.Ref), k.Short(), e.RunID, sh.From(), time.Since(t0).Round(10*time.Millisecond)))
	return b.validEntry(ctx, s, k, kind)
}

func (b *Builder) loadShared(ctx context.Context, s *state, k cache.Key, kind string, img v1.Image, meta share.Meta) (*cache.Entry, error) {
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	ref, err := name.NewTag(cacheTag(k))
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(ref, img, pw)) }()
	resp, err := s.api.ImageLoad(ctx, pr, client.ImageLoadWithQuiet(true))
	if err != nil {
		pr.CloseWithError(err)
		return nil, fmt.Errorf("load image: %w", err)
	}
	err = loadError(resp.Body)
	resp.Body.Close()
	pr.CloseWithError(errors.New("load finished"))
	if err != nil {
		return nil, err
	}
	insp, err := s.api.ImageInspect(ctx, id.String())
	if err != nil {
		return nil, fmt.Errorf("inspect the loaded image %s: %w", short(id.String()), err)
	}
	e := &cache.Entry{Key: k, Kind: kind, Build: meta.Build, Step: meta.Step, RunID: meta.RunID,
		Ref: insp.ID, Digest: insp.ID, Size: insp.Size, Extra: map[string]string{"from": b.opts.SharedCache.From()}}
	if err := b.opts.Cache.Store.Put(e); err != nil {
		return nil, err
	}
	return e, nil
}

// loadError reads the engine's JSON message stream of an image load and
// returns the error it reports, if any.
func loadError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read the engine's answer: %w", err)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// pushShared writes, to the -cache-to registry, every image of this
// build's keys that the local cache holds and the registry does not yet:
// the final image and the step states. A registry that cannot be reached
// or refuses is a warning, not a failed build.
func (b *Builder) pushShared(ctx context.Context, s *state) error {
	sh := b.opts.SharedCache
	store := b.opts.Cache.Store
	type item struct {
		key  cache.Key
		kind string
	}
	var items []item
	if s.cache.finalKey != "" {
		items = append(items, item{s.cache.finalKey, cache.KindDockerImage})
	}
	for i := len(s.cache.keys) - 1; i >= 0; i-- {
		items = append(items, item{s.cache.keys[i].Key, cache.KindDockerStep})
	}
	pushed := 0
	t0 := time.Now()
	for _, it := range items {
		if it.key == "" {
			continue
		}
		e, err := store.Get(it.key)
		if err != nil || e == nil || e.Kind != it.kind {
			continue
		}
		has, err := sh.Has(ctx, it.key)
		if err == nil && has {
			continue
		}
		if err == nil {
			err = b.pushImage(ctx, s, e)
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			s.ui.Error(fmt.Sprintf("warning: cache: not shared: %s", err))
			return nil // the registry refuses: no use trying the others
		}
		pushed++
	}
	if pushed > 0 {
		s.ui.Say(fmt.Sprintf("cache: pushed %d image(s) to %s in %s", pushed, sh.To(), time.Since(t0).Round(10*time.Millisecond)))
	}
	return nil
}

// pushImage saves e's image from the engine into a temporary file (the
// tarball is read more than once) and pushes it under e's key.
func (b *Builder) pushImage(ctx context.Context, s *state, e *cache.Entry) error {
	f, err := os.CreateTemp("", "bake-cache-push-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	rc, err := s.api.ImageSave(ctx, []string{e.Ref})
	if err == nil {
		_, err = io.Copy(f, rc)
		rc.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("save image %s: %w", short(e.Ref), err)
	}
	img, err := tarball.ImageFromPath(f.Name(), nil)
	if err != nil {
		return fmt.Errorf("read saved image %s: %w", short(e.Ref), err)
	}
	return b.opts.SharedCache.PushImage(ctx, img, share.Meta{Key: e.Key, Kind: e.Kind, RunID: e.RunID, Build: e.Build, Step: e.Step})
}
