package amazon

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/templates/interpolate"
)

// SourceFields are the "{{ }}" fields of Packer's build template data:
// what ami_description and the tags options may use, rendered once the
// source AMI is known.
var SourceFields = interpolate.Fields{
	"BuildRegion", "SourceAMI", "SourceAMICreationDate", "SourceAMIName",
	"SourceAMIOwner", "SourceAMIOwnerName", "SourceAMITags.*",
}

// TemplateFields names the options the builder renders itself, as
// Packer's amazon-ebs does: ami_name is rendered when the template is
// decoded (functions only), these once the source AMI is known.
func (c *Config) TemplateFields() map[string]interpolate.Fields {
	return map[string]interpolate.Fields{
		"ami_description": SourceFields,
		"tags":            SourceFields,
		"run_tags":        SourceFields,
		"run_volume_tags": SourceFields,
		"snapshot_tags":   SourceFields,
	}
}

var _ templates.TemplateFields = (*Config)(nil)

// BuildInfo is the data ami_description and the tags are rendered with.
type BuildInfo struct {
	BuildRegion           string
	SourceAMI             string
	SourceAMICreationDate string
	SourceAMIName         string
	SourceAMIOwner        string
	SourceAMIOwnerName    string
	SourceAMITags         map[string]string
}

// buildInfo describes the source AMI img for a build in region.
func buildInfo(region string, img types.Image) BuildInfo {
	tags := map[string]string{}
	for _, t := range img.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return BuildInfo{
		BuildRegion:           region,
		SourceAMI:             aws.ToString(img.ImageId),
		SourceAMICreationDate: aws.ToString(img.CreationDate),
		SourceAMIName:         aws.ToString(img.Name),
		SourceAMIOwner:        aws.ToString(img.OwnerId),
		SourceAMIOwnerName:    aws.ToString(img.ImageOwnerAlias),
		SourceAMITags:         tags,
	}
}

// rendered are the options a region's AMI gets, rendered with that
// region as .BuildRegion.
type rendered struct {
	description        string
	tags, snapshotTags map[string]string
}

// renderTemplates renders the "{{ }}" fields of ami_description and the
// tags options with the source AMI img: into a copy of the config for the
// build region (the plan's config stays as written), and for each
// ami_regions copy into b.copies, with .BuildRegion the copy's region as
// in Packer.
func (b *Builder) renderTemplates(img types.Image) error {
	c := *b.cfg
	var err error
	// The instance and its volumes live in the build region.
	build := buildInfo(c.Region, img)
	if c.RunTags, err = renderMap(b.cfg.RunTags, build); err != nil {
		return fmt.Errorf("render run_tags: %w", err)
	}
	if c.RunVolumeTags, err = renderMap(b.cfg.RunVolumeTags, build); err != nil {
		return fmt.Errorf("render run_volume_tags: %w", err)
	}
	copies := map[string]rendered{}
	for _, r := range b.regions() {
		var out rendered
		info := buildInfo(r, img)
		if out.description, err = interpolate.Render(b.cfg.AMIDescription, info); err != nil {
			return fmt.Errorf("render ami_description: %w", err)
		}
		if len(out.description) > 255 {
			return fmt.Errorf("ami_description is %d characters long once rendered; an AMI description may be 255 at most", len(out.description))
		}
		if out.tags, err = renderMap(b.cfg.Tags, info); err != nil {
			return fmt.Errorf("render tags: %w", err)
		}
		if out.snapshotTags, err = renderMap(b.cfg.SnapshotTags, info); err != nil {
			return fmt.Errorf("render snapshot_tags: %w", err)
		}
		if r == c.Region {
			c.AMIDescription, c.Tags, c.SnapshotTags = out.description, out.tags, out.snapshotTags
		} else {
			copies[r] = out
		}
	}
	b.cfg, b.copies = &c, copies
	return nil
}

// forRegion returns the description, tags and snapshot tags of region's
// AMI: the build region's are the config's.
func (b *Builder) forRegion(region string) rendered {
	if r, ok := b.copies[region]; ok {
		return r
	}
	return rendered{description: b.cfg.AMIDescription, tags: b.cfg.Tags, snapshotTags: b.cfg.SnapshotTags}
}

// snapshotTagsIn returns the tags of region's snapshots: snapshot_tags,
// else tags.
func (b *Builder) snapshotTagsIn(region string) map[string]string {
	r := b.forRegion(region)
	if len(r.snapshotTags) > 0 {
		return r.snapshotTags
	}
	return r.tags
}

// renderMap renders each key and value of m.
func renderMap(m map[string]string, data any) (map[string]string, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		rk, err := interpolate.Render(k, data)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		rv, err := interpolate.Render(m[k], data)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		out[rk] = rv
	}
	return out, nil
}
