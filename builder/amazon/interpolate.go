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

// renderTemplates renders the "{{ }}" fields of ami_description and the
// tags options with the source AMI img, on a copy of the config so that
// the plan's stays as written.
func (b *Builder) renderTemplates(img types.Image) error {
	info := buildInfo(b.cfg.Region, img)
	c := *b.cfg
	var err error
	if c.AMIDescription, err = interpolate.Render(c.AMIDescription, info); err != nil {
		return fmt.Errorf("render ami_description: %w", err)
	}
	if len(c.AMIDescription) > 255 {
		return fmt.Errorf("ami_description is %d characters long once rendered; an AMI description may be 255 at most", len(c.AMIDescription))
	}
	for _, t := range []struct {
		name string
		m    *map[string]string
	}{{"tags", &c.Tags}, {"run_tags", &c.RunTags}, {"run_volume_tags", &c.RunVolumeTags}, {"snapshot_tags", &c.SnapshotTags}} {
		if *t.m, err = renderMap(*t.m, info); err != nil {
			return fmt.Errorf("render %s: %w", t.name, err)
		}
	}
	b.cfg = &c
	return nil
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
