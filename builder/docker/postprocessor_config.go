package docker

import (
	"regexp"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// TagConfig is the docker-tag post-processor's block: it tags the built
// image as repository:tag for each tag.
type TagConfig struct {
	// Repository is the image name to tag into, like "registry:5000/app".
	Repository string `hcl:"repository"`
	// Tags are the tags to give; with Tag empty too, ["latest"].
	Tags []string `hcl:"tags"`
	// Tag is Packer's older name for Tags, a list(string) as in Packer;
	// Prepare appends it to Tags.
	Tag []string `hcl:"tag"`
	// Force is accepted for compatibility; the engine always moves a tag.
	Force bool `hcl:"force"`
}

var _ templates.Config = (*TagConfig)(nil)

// Prepare validates the repository and tags, and folds tag into tags as
// Packer does.
func (c *TagConfig) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.Required(diags, "repository")
	diags = checkRepository(b, diags, "repository", c.Repository)
	diags = checkTags(b, diags, "tags", c.Tags)
	diags = checkTags(b, diags, "tag", c.Tag)
	c.Tags = append(c.Tags, c.Tag...)
	if len(c.Tags) == 0 {
		c.Tags = []string{"latest"}
	}
	return diags
}

// PushConfig is the docker-push post-processor's block: it pushes the
// tags of its input artifact to their registry and records the digest.
type PushConfig struct {
	LoginConfig
}

var _ templates.Config = (*PushConfig)(nil)

// Prepare validates the login options.
func (c *PushConfig) Prepare(b *templates.Body) hcl.Diagnostics {
	return prepareLogin(b, nil, c.Login, c.ECRLogin)
}

// SaveConfig is the docker-save post-processor's block: it writes the
// image as a tar file (`docker save` format).
type SaveConfig struct {
	// Path is the tar file to write; required.
	Path string `hcl:"path"`
}

var _ templates.Config = (*SaveConfig)(nil)

// Prepare checks that path is given.
func (c *SaveConfig) Prepare(b *templates.Body) hcl.Diagnostics {
	diags := b.Required(nil, "path")
	if b.Known("path") && c.Path == "" {
		diags = append(diags, b.Error("path", "Invalid value", `"path" must name the tar file to write.`))
	}
	return diags
}

// ImportConfig is the docker-import post-processor's block: it imports an
// exported container tar (docker export_path) as an image.
type ImportConfig struct {
	// Repository is required.
	Repository string `hcl:"repository"`
	// Tag defaults to "latest".
	Tag      string   `hcl:"tag"`
	Changes  []string `hcl:"changes"`
	Platform string   `hcl:"platform"`
}

var _ templates.Config = (*ImportConfig)(nil)

// Prepare validates the repository, tag, changes and platform.
func (c *ImportConfig) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.Required(diags, "repository")
	diags = checkRepository(b, diags, "repository", c.Repository)
	if !b.Has("tag") {
		c.Tag = "latest"
	} else if b.Known("tag") && !tagRE.MatchString(c.Tag) {
		diags = append(diags, b.Errorf("tag", "Invalid tag", tagDetail, c.Tag))
	}
	diags = checkChanges(b, diags, "changes", c.Changes)
	diags = checkPlatform(b, diags, "platform", c.Platform)
	return diags
}

// The grammar of docker references (distribution/reference), without tag
// or digest.
var (
	repoRE = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?/)?` +
		`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	tagDetail = "%q is not a valid image tag: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'."
)

func checkRepository(b *templates.Body, diags hcl.Diagnostics, name, repo string) hcl.Diagnostics {
	if !b.Known(name) {
		return diags
	}
	if !repoRE.MatchString(repo) {
		detail := "%q is not a valid repository name: path components are lower-case letters, digits and separators (. _ -), optionally after a registry host[:port]/"
		if regexp.MustCompile(`:[^/]*$`).MatchString(repo) {
			detail += "; give the tag in \"tags\", not in the repository"
		}
		diags = append(diags, b.Errorf(name, "Invalid repository", detail+".", repo))
	}
	return diags
}

func checkTags(b *templates.Body, diags hcl.Diagnostics, name string, tags []string) hcl.Diagnostics {
	if !b.Known(name) {
		return diags
	}
	for i, t := range tags {
		if !tagRE.MatchString(t) {
			diags = append(diags, b.ElementErrorf(name, i, "Invalid tag", tagDetail, t))
		}
	}
	return diags
}
