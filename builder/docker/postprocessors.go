package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// The post-processor types this package implements.
const (
	KindTag    = "docker-tag"
	KindPush   = "docker-push"
	KindSave   = "docker-save"
	KindImport = "docker-import"
)

// NewPostProcessor is the engine's constructor for the docker
// post-processors: kind is the block type ("docker-tag", "docker-push",
// "docker-save", "docker-import") and cfg its prepared config
// (*TagConfig, *PushConfig, *SaveConfig, *ImportConfig). info is the
// build the artifact comes from.
func NewPostProcessor(kind string, cfg templates.Config, info provisioners.BuildInfo) (artifacts.PostProcessor, error) {
	var pp artifacts.PostProcessor
	ok := false
	switch kind {
	case KindTag:
		var c *TagConfig
		if c, ok = cfg.(*TagConfig); ok {
			pp = &TagPostProcessor{cfg: c, newAPI: newEngineClient}
		}
	case KindPush:
		var c *PushConfig
		if c, ok = cfg.(*PushConfig); ok {
			pp = &PushPostProcessor{cfg: c, newAPI: newEngineClient}
		}
	case KindSave:
		var c *SaveConfig
		if c, ok = cfg.(*SaveConfig); ok {
			pp = &SavePostProcessor{cfg: c, force: info.Force, newAPI: newEngineClient}
		}
	case KindImport:
		var c *ImportConfig
		if c, ok = cfg.(*ImportConfig); ok {
			pp = &ImportPostProcessor{cfg: c, build: info.Name, newAPI: newEngineClient}
		}
	default:
		return nil, fmt.Errorf("unknown docker post-processor %q", kind)
	}
	if !ok {
		return nil, fmt.Errorf("%s post-processor: config is %T", kind, cfg)
	}
	return pp, nil
}

// imageOf returns the local image id an artifact stands for, or an error
// saying that the post-processor needs an image.
func imageOf(kind string, in *artifacts.Artifact) (string, error) {
	if in == nil {
		return "", fmt.Errorf("%s needs an image artifact, and there is none", kind)
	}
	if id := in.State["image_id"]; id != "" {
		return id, nil
	}
	return "", fmt.Errorf("%s needs a docker image, but got a %s artifact %s (use commit = true, or docker-import after export_path)", kind, in.Builder, in.ID)
}

// imageItem returns the index of in's item for the local image.
func imageItem(in *artifacts.Artifact, id string) int {
	for i, it := range in.Items {
		if it.ExternalIdentifier == id {
			return i
		}
	}
	return -1
}

// derive copies in for a post-processor's output, without its Destroy.
func derive(in *artifacts.Artifact, builderName string) *artifacts.Artifact {
	out := *in
	out.Builder = builderName
	out.Items = slices.Clone(in.Items)
	for i := range out.Items {
		out.Items[i].Tags = slices.Clone(out.Items[i].Tags)
	}
	out.Files = slices.Clone(in.Files)
	out.State = map[string]string{}
	for k, v := range in.State {
		out.State[k] = v
	}
	out.Destroy = nil
	return &out
}

// TagPostProcessor is docker-tag: it tags the image as repository:tag for
// each tag. Its artifact is the same image with the tags; removing it
// removes only those tags.
type TagPostProcessor struct {
	cfg    *TagConfig
	newAPI func() (dockerAPI, error)
}

// PostProcess tags in's image. Each tag call completes under
// cancellation so that the tags it made are known; on a failure or a
// cancel they are undone before PostProcess returns.
func (p *TagPostProcessor) PostProcess(ctx context.Context, ui ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	id, err := imageOf(KindTag, in)
	if err != nil {
		return nil, false, err
	}
	api, err := connect(ctx, p.newAPI)
	if err != nil {
		return nil, false, err
	}
	defer api.Close()
	var refs []string
	var made []movedTag
	undo := func(err error) (*artifacts.Artifact, bool, error) {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return nil, false, errors.Join(err, untag(uctx, api, id, made))
	}
	for _, tag := range p.cfg.Tags {
		ref := p.cfg.Repository + ":" + tag
		refs = append(refs, ref)
		prev, err := api.ImageInspect(ctx, ref)
		switch {
		case err == nil && prev.ID == id:
			continue // already there: not ours to take away
		case err != nil && !cerrdefs.IsNotFound(err):
			return undo(fmt.Errorf("inspect %s: %w", ref, err))
		}
		cctx, cancel := completing(ctx, nil, 0)
		err = api.ImageTag(cctx, id, ref)
		cancel()
		// Even a call that failed may have moved the tag (the answer
		// was lost): untag looks, and acts only on a ref that names
		// the image.
		made = append(made, movedTag{ref: ref, prev: prev.ID})
		if err != nil {
			return undo(fmt.Errorf("tag image %s as %s: %w", short(id), ref, err))
		}
		if ctx.Err() != nil {
			return undo(fmt.Errorf("tag image %s as %s: %w", short(id), ref, context.Cause(ctx)))
		}
		ui.Say(fmt.Sprintf("tagged %s as %s", short(id), ref))
	}
	out := derive(in, KindTag)
	if i := imageItem(out, id); i >= 0 {
		for _, r := range refs {
			if !slices.Contains(out.Items[i].Tags, r) {
				out.Items[i].Tags = append(out.Items[i].Tags, r)
			}
		}
	}
	out.State["tags"] = strings.Join(append(strings.Fields(in.State["tags"]), refs...), " ")
	newAPI := p.newAPI
	out.Destroy = func(ctx context.Context) error {
		api, err := connect(ctx, newAPI)
		if err != nil {
			return err
		}
		defer api.Close()
		return untag(ctx, api, id, made)
	}
	// The input is the same image: removing it would take the tags away.
	return out, true, nil
}

// movedTag is a tag docker-tag put on the image: ref, and the image it
// named before ("" when it was new), which gets it back.
type movedTag struct {
	ref, prev string
}

// untag undoes tags, newest first: a tag that named another image before
// goes back to it; a new tag is removed, unless it is the image's last
// name (the engine would delete the image with it, and the image belongs
// to the build's artifact). A tag that no longer names image id was moved
// by someone else since, and is left alone.
func untag(ctx context.Context, api dockerAPI, id string, tags []movedTag) error {
	var errs []error
	for _, t := range slices.Backward(tags) {
		cur, err := api.ImageInspect(ctx, t.ref)
		if cerrdefs.IsNotFound(err) || (err == nil && cur.ID != id) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("inspect %s: %w", t.ref, err))
			continue
		}
		if t.prev != "" {
			if _, err := api.ImageInspect(ctx, t.prev); err == nil {
				if err := api.ImageTag(ctx, t.prev, t.ref); err != nil {
					errs = append(errs, fmt.Errorf("give %s back to image %s: %w", t.ref, short(t.prev), err))
				}
				continue
			}
		}
		if len(cur.RepoTags) < 2 {
			continue
		}
		if _, err := api.ImageRemove(ctx, t.ref, image.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove tag %s: %w", t.ref, err))
		}
	}
	return errors.Join(errs...)
}

// PushPostProcessor is docker-push: it pushes every tag of its input
// through the engine and records the pushed manifest digests.
type PushPostProcessor struct {
	cfg    *PushConfig
	newAPI func() (dockerAPI, error)
}

// pushAux is the engine's record of one pushed tag.
type pushAux struct {
	Tag    string `json:"Tag"`
	Digest string `json:"Digest"`
	Size   int64  `json:"Size"`
}

// PostProcess pushes in's tags.
func (p *PushPostProcessor) PostProcess(ctx context.Context, ui ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	id, err := imageOf(KindPush, in)
	if err != nil {
		return nil, false, err
	}
	var tags []string
	if i := imageItem(in, id); i >= 0 {
		tags = in.Items[i].Tags
	}
	if len(tags) == 0 {
		return nil, false, fmt.Errorf("docker-push: image %s has no tag to push; put a docker-tag post-processor before docker-push", short(id))
	}
	api, err := connect(ctx, p.newAPI)
	if err != nil {
		return nil, false, err
	}
	defer api.Close()
	lg := p.cfg.login()

	out := derive(in, KindPush)
	out.Items = slices.DeleteFunc(out.Items, func(it artifacts.Item) bool { return it.ExternalIdentifier == id })
	byRepo := map[string]int{} // repository -> index in out.Items
	var pushed []string
	for _, tag := range tags {
		named, err := reference.ParseNormalizedNamed(tag)
		if err != nil {
			return nil, false, fmt.Errorf("docker-push: tag %q: %w", tag, err)
		}
		auth, err := lg.authFor(tag)
		if err != nil {
			return nil, false, err
		}
		ui.Say(fmt.Sprintf("pushing %s", tag))
		// The push completes under cancellation, so that what reached
		// the registry is known and reported.
		cctx, cancel := completing(ctx, nil, 0)
		rc, err := api.ImagePush(cctx, tag, image.PushOptions{RegistryAuth: auth})
		var aux pushAux
		if err == nil {
			err = readProgress(rc, func(m progressMessage) {
				if len(m.Aux) > 0 {
					json.Unmarshal(m.Aux, &aux)
				}
			})
			rc.Close()
		}
		cancel()
		if err != nil {
			return nil, false, errors.Join(fmt.Errorf("push %s: %w", tag, err), pushedBefore(pushed))
		}
		if aux.Digest == "" {
			return nil, false, errors.Join(fmt.Errorf("push %s: the engine reported no digest", tag), pushedBefore(pushed))
		}
		repo := named.Name()
		uri := repo + "@" + aux.Digest
		ui.Say(fmt.Sprintf("pushed %s", uri))
		if ctx.Err() != nil {
			if !slices.Contains(pushed, uri) {
				pushed = append(pushed, uri)
			}
			return nil, false, errors.Join(fmt.Errorf("push %s: %w", tag, context.Cause(ctx)), pushedBefore(pushed))
		}
		mediaType := MediaTypeManifest
		if d, err := api.DistributionInspect(ctx, uri, auth); err == nil && d.Descriptor.MediaType != "" {
			mediaType = d.Descriptor.MediaType
		}
		if i, ok := byRepo[repo]; ok && out.Items[i].Digest == aux.Digest {
			out.Items[i].Tags = append(out.Items[i].Tags, tag)
		} else {
			byRepo[repo] = len(out.Items)
			out.Items = append(out.Items, artifacts.Item{
				ExternalIdentifier: id,
				URI:                uri,
				Digest:             aux.Digest,
				Size:               aux.Size,
				MediaType:          mediaType,
				Tags:               []string{tag},
			})
		}
		if !slices.Contains(pushed, uri) {
			pushed = append(pushed, uri)
		}
	}
	out.State["repo_digests"] = strings.Join(pushed, " ")
	return out, false, nil
}

// pushedBefore says what a push that then failed had already put in the
// registry, where it remains; nil when nothing.
func pushedBefore(pushed []string) error {
	if len(pushed) == 0 {
		return nil
	}
	return fmt.Errorf("pushed before it stopped, and left in the registry: %s", strings.Join(pushed, " "))
}

// SavePostProcessor is docker-save: it writes the image (with its tags)
// to a tar file in `docker save` format, atomically.
type SavePostProcessor struct {
	cfg *SaveConfig
	// force replaces an existing path (-force); without it an existing
	// path is refused, as export_path is.
	force  bool
	newAPI func() (dockerAPI, error)
}

// PostProcess saves in's image to the configured path.
func (p *SavePostProcessor) PostProcess(ctx context.Context, ui ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	id, err := imageOf(KindSave, in)
	if err != nil {
		return nil, false, err
	}
	if err := refuseExisting("docker-save path", p.cfg.Path, p.force); err != nil {
		return nil, false, err
	}
	api, err := connect(ctx, p.newAPI)
	if err != nil {
		return nil, false, err
	}
	defer api.Close()
	// Save the tags when there are some, so that `docker load` restores
	// them; else the bare image id.
	refs := []string{id}
	if i := imageItem(in, id); i >= 0 && len(in.Items[i].Tags) > 0 {
		refs = in.Items[i].Tags
	}
	ui.Say(fmt.Sprintf("saving %s to %s", strings.Join(refs, ", "), p.cfg.Path))
	rc, err := api.ImageSave(ctx, refs)
	if err != nil {
		return nil, false, fmt.Errorf("save image %s: %w", short(id), err)
	}
	defer rc.Close()
	sum, size, err := writeFileAtomic(p.cfg.Path, rc, p.force)
	if errors.Is(err, fs.ErrExist) {
		return nil, false, errExists("docker-save path", p.cfg.Path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("save image %s to %s: %w", short(id), p.cfg.Path, err)
	}
	abs, err := filepath.Abs(p.cfg.Path)
	if err != nil {
		abs = p.cfg.Path
	}
	out := &artifacts.Artifact{
		Builder: KindSave,
		Build:   in.Build,
		ID:      p.cfg.Path,
		Files:   []string{abs},
		Items: []artifacts.Item{{
			ExternalIdentifier: p.cfg.Path,
			Digest:             sum,
			Size:               size,
			Format:             "docker-archive",
			MediaType:          MediaTypeTar,
			Path:               abs,
		}},
		Parent:  in.Parent,
		State:   map[string]string{"source_image_id": id, "path": abs},
		Destroy: func(context.Context) error { return removeFile(abs) },
	}
	return out, false, nil
}

// ImportPostProcessor is docker-import: it imports an exported container
// file system (the docker builder's export_path) as an image.
type ImportPostProcessor struct {
	cfg    *ImportConfig
	build  string
	newAPI func() (dockerAPI, error)
}

// PostProcess imports in's tar file.
func (p *ImportPostProcessor) PostProcess(ctx context.Context, ui ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	var file string
	if in != nil {
		for _, it := range in.Items {
			if it.Path != "" && (it.Format == "tar" || strings.HasSuffix(it.Path, ".tar")) {
				file = it.Path
				break
			}
		}
		if file == "" && len(in.Files) == 1 {
			file = in.Files[0]
		}
	}
	if file == "" {
		return nil, false, fmt.Errorf("docker-import needs a tar file artifact (docker export_path), got %s", in)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, false, fmt.Errorf("docker-import: %w", err)
	}
	defer f.Close()
	api, err := connect(ctx, p.newAPI)
	if err != nil {
		return nil, false, err
	}
	defer api.Close()
	ref := p.cfg.Repository + ":" + p.cfg.Tag
	// The image ref names now, if any, gets it back when the imported
	// image goes.
	prev, err := api.ImageInspect(ctx, ref)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return nil, false, fmt.Errorf("inspect %s: %w", ref, err)
	}
	ui.Say(fmt.Sprintf("importing %s as %s", file, ref))
	// The import completes under cancellation, so that the image it made
	// is known and removed.
	cctx, cancel := completing(ctx, nil, 0)
	rc, err := api.ImageImport(cctx, image.ImportSource{Source: f, SourceName: "-"}, ref,
		image.ImportOptions{Changes: p.cfg.Changes, Platform: p.cfg.Platform})
	if err == nil {
		err = readProgress(rc, nil)
		rc.Close()
	}
	insp, ierr := api.ImageInspect(cctx, ref)
	cancel()
	id := ""
	if ierr == nil && insp.ID != prev.ID {
		id = insp.ID // ref names a new image: the import made it
	}
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if err == nil && id == "" {
		err = fmt.Errorf("inspect imported image: %w", errors.Join(ierr, errors.New("the tag names no new image")))
	}
	if err != nil {
		if id != "" {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			err = errors.Join(err, removeImported(uctx, api, id, ref, prev.ID))
		}
		return nil, false, fmt.Errorf("import %s as %s: %w", file, ref, err)
	}
	ui.Say(fmt.Sprintf("imported %s as %s", short(id), ref))
	build := in.Build
	if build == "" {
		build = p.build
	}
	newAPI := p.newAPI
	out := &artifacts.Artifact{
		Builder: KindImport,
		Build:   build,
		ID:      id,
		Items: []artifacts.Item{{
			ExternalIdentifier: id,
			Digest:             id,
			MediaType:          MediaTypeImageConfig,
			Tags:               []string{ref},
		}},
		Parent: in.Parent,
		State:  map[string]string{"image_id": id, "tags": ref},
		Destroy: func(ctx context.Context) error {
			api, err := connect(ctx, newAPI)
			if err != nil {
				return err
			}
			defer api.Close()
			return removeImported(ctx, api, id, ref, prev.ID)
		},
	}
	return out, false, nil
}

// removeImported removes the image docker-import made, first giving ref
// back to the image it named before the import (prev, "" for none) when
// that image is still there.
func removeImported(ctx context.Context, api dockerAPI, id, ref, prev string) error {
	return errors.Join(untag(ctx, api, id, []movedTag{{ref: ref, prev: prev}}), removeOwnImage(ctx, api, id))
}
