package postprocessors

import (
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// Defaults filled in by Prepare.
const (
	DefaultManifestOutput   = "packer-manifest.json"
	DefaultChecksumOutput   = "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum"
	DefaultCompressOutput   = "packer_{{.BuildName}}_{{.BuilderType}}.tar.gz"
	DefaultCompressionLevel = 6
)

// ManifestConfig is the manifest post-processor's block: it appends the
// build's artifacts to a Packer-compatible packer-manifest.json.
type ManifestConfig struct {
	// Output is the manifest file; default "packer-manifest.json".
	Output string `hcl:"output"`
	// StripPath records file names without their directories.
	StripPath bool `hcl:"strip_path"`
	// StripTime leaves out build_time, for reproducible manifests.
	StripTime bool `hcl:"strip_time"`
	// CustomData is copied into each build's entry.
	CustomData map[string]string `hcl:"custom_data"`
}

var _ templates.Config = (*ManifestConfig)(nil)

// Prepare fills in the output file.
func (c *ManifestConfig) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !b.Has("output") {
		c.Output = DefaultManifestOutput
	}
	diags = nonEmpty(b, diags, "output", c.Output)
	return diags
}

// Checksum types.
var ChecksumTypes = []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"}

// ChecksumConfig is the checksum post-processor's block: it writes the
// checksums of the artifact's files, one file per type, in the format
// `sha256sum -c` reads.
type ChecksumConfig struct {
	// ChecksumTypes default to ["md5"], as in Packer.
	ChecksumTypes []string `hcl:"checksum_types"`
	// Output is a template with {{.BuildName}}, {{.BuilderType}} and
	// {{.ChecksumType}}; default
	// "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum".
	Output string `hcl:"output"`
}

var _ templates.Config = (*ChecksumConfig)(nil)

// Prepare checks the checksum types and the output template.
func (c *ChecksumConfig) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !b.Has("checksum_types") {
		c.ChecksumTypes = []string{"md5"}
	} else if b.Known("checksum_types") {
		if len(c.ChecksumTypes) == 0 {
			diags = append(diags, b.Error("checksum_types", "Invalid value", `"checksum_types" is empty; leave it out for ["md5"].`))
		}
		seen := map[string]bool{}
		for i, t := range c.ChecksumTypes {
			t = strings.ToLower(t)
			c.ChecksumTypes[i] = t
			if !contains(ChecksumTypes, t) {
				detail := "%q is not a checksum type; it must be one of %s."
				args := []any{t, strings.Join(ChecksumTypes, ", ")}
				if s := templates.Suggest(t, ChecksumTypes); s != "" {
					detail += " Did you mean %q?"
					args = append(args, s)
				}
				diags = append(diags, b.ElementErrorf("checksum_types", i, "Invalid value", detail, args...))
			} else if seen[t] {
				diags = append(diags, b.ElementErrorf("checksum_types", i, "Duplicate value", "%q is listed twice.", t))
			}
			seen[t] = true
		}
	}
	if !b.Has("output") {
		c.Output = DefaultChecksumOutput
	}
	diags = nonEmpty(b, diags, "output", c.Output)
	diags = b.CheckTextTemplate(diags, "output", c.Output)
	if b.Known("output") && len(c.ChecksumTypes) > 1 && !strings.Contains(c.Output, ".ChecksumType") {
		diags = append(diags, b.Error("output", "Output files would collide",
			`With several "checksum_types", "output" must contain {{.ChecksumType}} so that each type gets its own file.`))
	}
	return diags
}

// Compression formats.
const (
	FormatTarGz = "tar.gz"
	FormatTar   = "tar"
	FormatGz    = "gz"
	FormatZip   = "zip"
)

// CompressFormats are the formats compress writes.
var CompressFormats = []string{FormatTarGz, FormatTar, FormatGz, FormatZip}

// CompressConfig is the compress post-processor's block: it packs the
// artifact's files into one archive.
type CompressConfig struct {
	// Output is a template with {{.BuildName}} and {{.BuilderType}};
	// default "packer_{{.BuildName}}_{{.BuilderType}}.tar.gz".
	Output string `hcl:"output"`
	// Format is "tar.gz", "tar", "gz" or "zip"; by default it follows the
	// extension of Output (.tar.gz or .tgz, .tar, .gz, .zip).
	Format string `hcl:"format"`
	// CompressionLevel is -1 (the library default) to 9; default 6.
	CompressionLevel int `hcl:"compression_level"`
}

var _ templates.Config = (*CompressConfig)(nil)

// Prepare fills in the output, derives the format and checks the level.
func (c *CompressConfig) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !b.Has("output") {
		c.Output = DefaultCompressOutput
	}
	diags = nonEmpty(b, diags, "output", c.Output)
	diags = b.CheckTextTemplate(diags, "output", c.Output)
	derived, known := formatOf(c.Output)
	switch {
	case b.Known("format"):
		c.Format = strings.ToLower(strings.TrimPrefix(c.Format, "."))
		if c.Format == "tgz" {
			c.Format = FormatTarGz
		}
		diags = b.OneOf(diags, "format", c.Format, CompressFormats...)
		if known && derived != c.Format && contains(CompressFormats, c.Format) {
			diags = append(diags, b.Warningf("output", "Extension does not match format",
				"%q ends like a %s file but format = %q.", c.Output, derived, c.Format))
		}
	case b.IsUnknown("format"), b.IsUnknown("output"):
	case known && contains(CompressFormats, derived):
		c.Format = derived
	case known:
		diags = append(diags, b.Errorf("output", "Unsupported format",
			"bake does not write %s archives; use an output ending in .tar.gz, .tgz, .tar, .gz or .zip.", derived))
	default:
		c.Format = FormatTarGz
		if b.Has("output") {
			diags = append(diags, b.Warningf("output", "Unknown archive extension",
				"%q has no archive extension bake knows; it will be written as tar.gz. Set \"format\" to choose.", c.Output))
		}
	}
	if !b.Has("compression_level") {
		c.CompressionLevel = DefaultCompressionLevel
	} else if b.Known("compression_level") && (c.CompressionLevel < -1 || c.CompressionLevel > 9) {
		diags = append(diags, b.Errorf("compression_level", "Invalid value",
			`"compression_level" must be from -1 (default) to 9, not %d.`, c.CompressionLevel))
	}
	if b.Known("compression_level") && c.Format == FormatTar && c.CompressionLevel != DefaultCompressionLevel {
		diags = append(diags, b.Warning("compression_level", "Option ignored", `A plain tar archive is not compressed.`))
	}
	return diags
}

// formatOf derives the archive format from a file name's extension.
// known is false when the name has no archive extension at all.
func formatOf(name string) (format string, known bool) {
	n := strings.ToLower(name)
	for _, e := range []struct{ ext, format string }{
		{".tar.gz", FormatTarGz}, {".tgz", FormatTarGz}, {".tar", FormatTar}, {".gz", FormatGz}, {".zip", FormatZip},
		{".tar.lz4", "lz4"}, {".lz4", "lz4"}, {".tar.xz", "xz"}, {".xz", "xz"}, {".bgzf", "bgzf"},
		{".tar.bz2", "bzip2"}, {".bz2", "bzip2"}, {".tar.zst", "zstd"}, {".zst", "zstd"},
	} {
		if strings.HasSuffix(n, e.ext) {
			return e.format, true
		}
	}
	return "", false
}

func nonEmpty(b *templates.Body, diags hcl.Diagnostics, name, v string) hcl.Diagnostics {
	if b.Known(name) && strings.TrimSpace(v) == "" {
		diags = append(diags, b.Errorf(name, "Invalid value", "%q must not be empty.", name))
	}
	return diags
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
