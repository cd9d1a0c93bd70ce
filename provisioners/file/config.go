package file

import (
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// Directions.
const (
	Upload   = "upload"
	Download = "download"
)

// Config is the file provisioner's block, with Packer's option names.
type Config struct {
	// Exactly one of Source, Sources and Content is what to copy. Source
	// is a local path for upload and a machine path for download; a
	// directory is copied with its contents (rsync's trailing-slash rule).
	Source  string   `hcl:"source"`
	Sources []string `hcl:"sources"`
	Content string   `hcl:"content"`
	// Destination is required; a trailing "/" makes it a directory.
	Destination string `hcl:"destination"`
	// Direction is "upload" (the default) or "download".
	Direction string `hcl:"direction"`
	// Generated says the source is made by an earlier step, so it need not
	// exist when the template is validated.
	Generated bool `hcl:"generated"`
}

var _ templates.Config = (*Config)(nil)

// Prepare validates the block and fills in the direction.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.ExactlyOne(diags, "source", "sources", "content")
	diags = b.Required(diags, "destination")
	if b.Known("destination") && c.Destination == "" {
		diags = append(diags, b.Error("destination", "Invalid value", `"destination" must not be empty.`))
	}
	if !b.Has("direction") {
		c.Direction = Upload
	} else if b.Known("direction") {
		c.Direction = strings.ToLower(c.Direction)
		diags = b.OneOf(diags, "direction", c.Direction, Upload, Download)
	}
	if b.Known("sources") && len(c.Sources) == 0 {
		diags = append(diags, b.Error("sources", "Invalid value", `"sources" is empty: give at least one path.`))
	}
	if b.Known("direction") && c.Direction == Download {
		for _, n := range []string{"sources", "content"} {
			if b.Has(n) {
				diags = append(diags, b.Errorf(n, "Option not valid for download",
					`%q only works with direction = "upload"; a download takes one "source".`, n))
			}
		}
		return diags
	}
	if b.Known("sources") && len(c.Sources) > 1 && b.Known("destination") && !strings.HasSuffix(c.Destination, "/") {
		diags = append(diags, b.Errorf("destination", "Destination must be a directory",
			`With several "sources", "destination" must be a directory and end in "/", like %q.`, c.Destination+"/"))
	}
	if c.Generated {
		return diags
	}
	if b.Known("source") {
		if err := templates.CheckReadable(c.Source, true); err != nil {
			diags = append(diags, b.Errorf("source", "Source not found",
				`%s. If an earlier step creates it, set generated = true.`, err))
		}
	}
	if b.Known("sources") {
		for i, s := range c.Sources {
			if err := templates.CheckReadable(s, true); err != nil {
				diags = append(diags, b.ElementErrorf("sources", i, "Source not found",
					`%s. If an earlier step creates it, set generated = true.`, err))
			}
		}
	}
	return diags
}
