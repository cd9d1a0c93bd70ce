package artifacts

import (
	"context"

	"github.com/bake-tool/bake/ui"
)

// Artifact is what a build, or a post-processor, produced.
type Artifact struct {
	// Builder is the source type that made it ("docker", "qemu", ...), or the
	// post-processor type for artifacts a post-processor made.
	Builder string `json:"builder"`
	// Build is the "type.name" of the build that made it.
	Build string `json:"build"`
	// ID is the artifact's primary identifier: an image id, an AMI list, a
	// file path.
	ID string `json:"id"`
	// Items are the things a deployer can fetch, each one subject of the run
	// manifest.
	Items []Item `json:"items,omitempty"`
	// Files are local files the artifact consists of (export tars, disks).
	Files []string `json:"files,omitempty"`
	// Parent is the base the build started from, as resolved.
	Parent *Parent `json:"parent,omitempty"`
	// State holds builder-specific facts later post-processors read, e.g.
	// "image_id" or "region:us-east-1".
	State map[string]string `json:"state,omitempty"`

	// Destroy, when set, removes the artifact; the engine calls it when a
	// post-processor does not keep its input.
	Destroy func(ctx context.Context) error `json:"-"`
}

// Item is one deliverable of an artifact: a file, an image, an AMI.
type Item struct {
	ExternalIdentifier string   `json:"externalIdentifier"`
	Region             string   `json:"region,omitempty"`
	URI                string   `json:"uri,omitempty"`
	Digest             string   `json:"digest,omitempty"` // "sha256:<hex>"
	Size               int64    `json:"size,omitempty"`
	Format             string   `json:"format,omitempty"`
	MediaType          string   `json:"mediaType,omitempty"`
	Tags               []string `json:"tags,omitempty"`
	// Path is the local file behind the item, if any.
	Path string `json:"-"`
}

// Parent is the base image a build started from.
type Parent struct {
	ImageID     string            `json:"imageId,omitempty"`     // docker image id
	ImageDigest string            `json:"imageDigest,omitempty"` // docker repo digest
	Ref         string            `json:"ref,omitempty"`         // as written in the template
	SourceAMIs  map[string]string `json:"sourceAmis,omitempty"`  // region -> ami id
	DiskSHA256  string            `json:"diskSha256,omitempty"`
	DiskPath    string            `json:"diskPath,omitempty"`
}

// String returns a one-line description for summaries.
func (a *Artifact) String() string {
	if a == nil {
		return "<no artifact>"
	}
	return a.Builder + ": " + a.ID
}

// PostProcessor turns an artifact into another (tags it, pushes it,
// compresses it, records it).
//
// Contract: PostProcess may return in itself as out. forceKeep reports that
// in must be kept whatever keep_input_artifact says (for example because
// out is in with more tags).
type PostProcessor interface {
	PostProcess(ctx context.Context, ui ui.UI, in *Artifact) (out *Artifact, forceKeep bool, err error)
}
