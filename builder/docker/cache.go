package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/bake-tool/bake/cache"
)

// CacheRepository is the repository of the tags that name cached images:
// bake-cache:<the key's hex>. A tag, not a label: a label would pass to
// every image built on top, so a resumed build's image would differ from a
// cold one's; a tag names one image and `docker images bake-cache` lists
// them all.
const CacheRepository = "bake-cache"

// checkpointEvery is how much provisioning time, since the last stored
// state, makes a step's state worth a commit (the state before the last
// provisioner always is; see storeStep).
var checkpointEvery = 2 * time.Second

// cacheState is the cache's part of a build's state.
type cacheState struct {
	keys       []cache.StepKey
	finalKey   cache.Key          // the final image's key; zero when not cacheable
	reused     *cache.Entry       // the final image, reused whole
	startImage string             // the step image the container starts from
	startSize  int64              // the whole size of the image the container starts from
	lastStore  time.Time          // when the last state was stored (or provisioning began)
	stored     map[cache.Key]bool // the steps this build stored
}

// baseKey is the key of what the container starts as: the base image's id
// (what the tag resolved to, so a re-tagged base misses) and the options
// that change what provisioners do in it: platform, privileged, volumes,
// cap_add, cap_drop, devices, tmpfs, runtime, exec_user, container_dir,
// fix_upload_owner, communicator. Pull, login, the output options and the
// commit's changes/author/message are not in it (the last three are in
// the final image's key).
func (b *Builder) baseKey(s *state) (cache.Key, error) { return BaseKey(b.cfg, s.base.ID) }

// BaseKey is the key a docker build with cfg starts from, on the base
// image whose id is imageID (see baseKey).
func BaseKey(c *Config, imageID string) (cache.Key, error) {
	h := cache.NewHasher("docker base")
	h.String("image_id", imageID)
	h.String("platform", c.Platform)
	h.Value("privileged", c.Privileged)
	h.Map("volumes", c.Volumes)
	h.Strings("cap_add", c.CapAdd)
	h.Strings("cap_drop", c.CapDrop)
	h.Strings("devices", append(slices.Clone(c.Devices), c.DevicesAlias...))
	h.Strings("tmpfs", c.Tmpfs)
	h.String("runtime", c.Runtime)
	h.String("exec_user", c.ExecUser)
	h.String("container_dir", c.ContainerDir)
	h.Value("fix_upload_owner", c.FixUploadOwner == nil || *c.FixUploadOwner)
	h.String("communicator", c.Communicator)
	return h.Sum()
}

// finalKey is the committed image's key: the last step's, with the
// commit's changes, author and message.
func (b *Builder) finalKey(last cache.Key) cache.Key {
	if last == "" || !b.cfg.Commit {
		return ""
	}
	h := cache.NewHasher("docker image")
	h.Key("last", last)
	h.Strings("changes", b.cfg.Changes)
	h.String("author", b.cfg.Author)
	h.String("message", b.cfg.Message)
	if b.cfg.Squash {
		// A squashed image is never one resumed from a kept step (one
		// layer more); added only when on, so that other keys stay.
		h.Value("squash", true)
	}
	k, _ := h.Sum()
	return k
}

// cacheLookup computes the keys and finds what the cache holds: the
// final image (nothing runs), or the longest prefix of steps whose state
// it holds (the container starts from that image and the engine runs the
// rest).
func (b *Builder) cacheLookup(ctx context.Context, s *state) error {
	cb := b.opts.Cache
	if cb == nil {
		return nil
	}
	base, err := b.baseKey(s)
	if err != nil {
		return err
	}
	keys, err := cb.Keys(base, b.info())
	if err != nil {
		return err
	}
	s.cache.keys = keys
	s.cache.startSize = s.base.Size
	last := base
	if len(keys) > 0 {
		last = keys[len(keys)-1].Key
	}
	s.cache.finalKey = b.finalKey(last)
	cb.SetFinal(s.cache.finalKey, false)
	// find is the local entry of k, else the shared one, pulled.
	find := func(k cache.Key, kind string) (*cache.Entry, int64) {
		if e, size := b.validEntry(ctx, s, k, kind); e != nil {
			return e, size
		}
		return b.pullShared(ctx, s, k, kind)
	}
	if e, _ := find(s.cache.finalKey, cache.KindDockerImage); e != nil {
		s.cache.reused = e
		cb.SetFinal(s.cache.finalKey, true)
		for i := range keys {
			cb.Reused(i, &cache.Entry{Key: keys[i].Key, RunID: e.RunID})
		}
		s.ui.Say(fmt.Sprintf("cache: reusing image %s (key %s, built by run %s); no step runs", short(e.Ref), s.cache.finalKey.Short(), e.RunID))
		return nil
	}
	if b.cfg.Squash {
		// No step state is kept or resumed from: each would add a layer.
		s.ui.Say("cache: squash = true: a changed build runs every step from the base image, so that its image is one layer over the base")
		cb.Resume(0, nil)
		return nil
	}
	from := 0
	for i := len(keys) - 1; i >= 0; i-- {
		if e, size := find(keys[i].Key, cache.KindDockerStep); e != nil {
			from = i + 1
			s.cache.startImage = e.Ref
			s.cache.startSize = size
			for j := 0; j <= i; j++ {
				cb.Reused(j, &cache.Entry{Key: keys[j].Key, RunID: e.RunID})
			}
			s.ui.Say(fmt.Sprintf("cache: starting from image %s, the state after %s (built by run %s); %d of %d steps reused",
				short(e.Ref), keys[i].Label, e.RunID, from, len(keys)))
			break
		}
	}
	cb.Resume(from, func(ctx context.Context, i int, key cache.Key) error { return b.storeStep(ctx, s, i, key) })
	s.cache.lastStore = time.Now()
	return nil
}

// validEntry returns k's entry when it is of kind and its image is still
// the one recorded (its id, which is the digest of its content, and its
// cache tag), with the image's whole size; a damaged entry is removed
// and reported, and counts as a miss.
func (b *Builder) validEntry(ctx context.Context, s *state, k cache.Key, kind string) (*cache.Entry, int64) {
	if k == "" {
		return nil, 0
	}
	store := b.opts.Cache.Store
	e, err := store.Get(k)
	if err != nil || e == nil {
		return nil, 0
	}
	why := ""
	insp, err := s.api.ImageInspect(ctx, e.Ref)
	switch {
	case e.Kind != kind:
		why = fmt.Sprintf("it is a %s entry", e.Kind)
	case cerrdefs.IsNotFound(err):
		why = fmt.Sprintf("image %s is gone", short(e.Ref))
	case err != nil:
		s.ui.Error(fmt.Sprintf("cache: inspect image %s: %s", short(e.Ref), err))
		return nil, 0
	case insp.ID != e.Digest:
		why = fmt.Sprintf("image %s has id %s, want %s", short(e.Ref), short(insp.ID), short(e.Digest))
	case !slices.Contains(insp.RepoTags, cacheTag(k)):
		why = fmt.Sprintf("image %s is no longer tagged %s", short(e.Ref), cacheTag(k))
	}
	if why != "" {
		s.ui.Error(fmt.Sprintf("cache: entry %s is damaged (%s): not used, rebuilding", k.Short(), why))
		if err := store.Remove(k); err != nil {
			s.ui.Error(fmt.Sprintf("cache: remove entry %s: %s", k.Short(), err))
		}
		return nil, 0
	}
	if err := store.Touch(e); err != nil {
		s.ui.Error(fmt.Sprintf("cache: %s", err))
	}
	return e, insp.Size
}

func cacheTag(k cache.Key) string { return CacheRepository + ":" + k.Hex() }

func isCacheTag(t string) bool { return strings.HasPrefix(t, CacheRepository+":") }

// storeStep commits the container after provisioner i as the image of
// key, when the state is worth keeping: the one before the last
// provisioner (what a developer changing the last step resumes from),
// and any one reached after checkpointEvery of provisioning since the
// last stored state. The last step's state is the final image's (commit)
// or kept as a step (export, discard).
func (b *Builder) storeStep(ctx context.Context, s *state, i int, key cache.Key) error {
	n := len(s.cache.keys)
	switch {
	case i == n-1 && s.cache.finalKey != "":
		return nil
	case i == n-2, i == n-1, time.Since(s.cache.lastStore) >= checkpointEvery:
	default:
		return nil
	}
	defer func() { s.cache.lastStore = time.Now() }()
	return b.store(ctx, s, key, cache.KindDockerStep, keysLabel(s.cache.keys, i), func(ctx context.Context) (string, error) {
		resp, err := s.api.ContainerCommit(ctx, s.containerID, container.CommitOptions{Pause: !s.comm.idle(ctx), Config: commitConfig(s.base)})
		if err != nil {
			return "", fmt.Errorf("commit container %s: %w", short(s.containerID), err)
		}
		return resp.ID, nil
	})
}

func keysLabel(keys []cache.StepKey, i int) string {
	if i < len(keys) {
		return keys[i].Label
	}
	return ""
}

// storeFinal records the committed image as the final image of its key.
func (b *Builder) storeFinal(ctx context.Context, s *state) error {
	if b.opts.Cache == nil || s.cache.finalKey == "" || s.imageID == "" {
		return nil
	}
	return b.store(ctx, s, s.cache.finalKey, cache.KindDockerImage, "commit container", func(context.Context) (string, error) {
		return s.imageID, nil
	})
}

// store makes (commit) and records the image of key under the key's lock.
// When another process stored the key meanwhile, its entry stays and
// commit is not called.
func (b *Builder) store(ctx context.Context, s *state, key cache.Key, kind, step string, commit func(context.Context) (string, error)) error {
	store := b.opts.Cache.Store
	unlock, err := store.Lock(key)
	if err != nil {
		return err
	}
	defer unlock()
	if e, _ := store.Get(key); e != nil && e.Kind == kind {
		if _, err := s.api.ImageInspect(ctx, e.Ref); err == nil {
			return nil
		}
	}
	cctx, cancel := b.completing(ctx)
	defer cancel()
	id, err := commit(cctx)
	if err != nil {
		return err
	}
	if err := s.api.ImageTag(cctx, id, cacheTag(key)); err != nil {
		return fmt.Errorf("tag image %s: %w", short(id), err)
	}
	insp, err := s.api.ImageInspect(cctx, id)
	if err != nil {
		return fmt.Errorf("inspect image %s: %w", short(id), err)
	}
	s.cache.stored = mapSet(s.cache.stored, key)
	// The entry's size is what it adds: its layers over the image the
	// container started from (which the cache or the user keeps anyway).
	return store.Put(&cache.Entry{Key: key, Kind: kind, Build: b.name, Step: step, RunID: b.opts.RunID,
		Ref: insp.ID, Digest: insp.ID, Size: max(insp.Size-s.cache.startSize, 0)})
}

func mapSet(m map[cache.Key]bool, k cache.Key) map[cache.Key]bool {
	if m == nil {
		m = map[cache.Key]bool{}
	}
	m[k] = true
	return m
}

// RemoveCached removes a cached image: its cache tag, and the image when
// nothing else names it. bake cache prune calls it for docker entries.
func RemoveCached(ctx context.Context, e *cache.Entry) error {
	api, err := connect(ctx, newEngineClient)
	if err != nil {
		return err
	}
	defer api.Close()
	if _, err := api.ImageRemove(ctx, cacheTag(e.Key), image.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", cacheTag(e.Key), err)
	}
	return nil
}
