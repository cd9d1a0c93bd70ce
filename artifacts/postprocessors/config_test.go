package postprocessors

import (
	"reflect"
	"testing"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

func TestManifest(t *testing.T) {
	configtest.Run(t, "manifest", func() templates.Config { return new(ManifestConfig) }, []configtest.Case{
		{Name: "all", Src: "output = \"m.json\"\nstrip_path = true\nstrip_time = true\ncustom_data = { commit = \"abc\" }"},
		{Src: `output = ""`, Want: `"output" must not be empty`, Line: 1},
		{Src: `custom_data = ["a"]`, Want: "map of string required", Line: 1},
	})
	var c ManifestConfig
	configtest.MustPrepare(t, "manifest", ``, &c)
	if c.Output != "packer-manifest.json" {
		t.Fatalf("default output %q", c.Output)
	}
}

func TestChecksum(t *testing.T) {
	configtest.Run(t, "checksum", func() templates.Config { return new(ChecksumConfig) }, []configtest.Case{
		{Name: "types", Src: `checksum_types = ["sha256", "SHA512"]`},
		{Src: "checksum_types = [\n  \"sha256\",\n  \"sha265\",\n]", Want: `"sha265" is not a checksum type`, Line: 3},
		{Src: `checksum_types = ["sha257"]`, Want: `Did you mean "sha256"?`, Line: 1},
		{Src: `checksum_types = ["md5", "md5"]`, Want: `"md5" is listed twice`, Line: 1},
		{Src: `checksum_types = []`, Want: `"checksum_types" is empty`, Line: 1},
		{Src: "checksum_types = [\"md5\", \"sha1\"]\noutput = \"sums.txt\"", Want: "must contain {{.ChecksumType}}", Line: 2},
		{Src: `output = "{{.BuildName"`, Want: "invalid {{ }} syntax: unclosed action", Line: 1},
	})
	var c ChecksumConfig
	configtest.MustPrepare(t, "checksum", ``, &c)
	if !reflect.DeepEqual(c.ChecksumTypes, []string{"md5"}) || c.Output != DefaultChecksumOutput {
		t.Fatalf("defaults: %+v", c)
	}
	var d ChecksumConfig
	configtest.MustPrepare(t, "checksum", `checksum_types = ["SHA256"]`, &d)
	if d.ChecksumTypes[0] != "sha256" {
		t.Fatalf("type not lower-cased: %v", d.ChecksumTypes)
	}
}

func TestCompress(t *testing.T) {
	configtest.Run(t, "compress", func() templates.Config { return new(CompressConfig) }, []configtest.Case{
		{Name: "zip", Src: "output = \"out.zip\"\ncompression_level = 9"},
		{Name: "level -1", Src: `compression_level = -1`},
		{Src: `compression_level = 10`, Want: `"compression_level" must be from -1 (default) to 9, not 10`, Line: 1},
		{Src: `output = "disk.tar.xz"`, Want: "bake does not write xz archives", Line: 1},
		{Src: `format = "rar"`, Want: `"rar" is not a valid value for "format"`, Line: 1},
		{Src: "output = \"a.zip\"\nformat = \"tar.gz\"", Want: `ends like a zip file but format = "tar.gz"`, Line: 1, Warning: true},
		{Src: `output = "disk.img"`, Want: "will be written as tar.gz", Line: 1, Warning: true},
		{Src: "output = \"a.tar\"\ncompression_level = 9", Want: "plain tar archive is not compressed", Line: 2, Warning: true},
	})
	for _, tc := range []struct{ src, format string }{
		{``, "tar.gz"}, {`output = "x.tgz"`, "tar.gz"}, {`output = "x.TAR.GZ"`, "tar.gz"}, {`output = "x.tar"`, "tar"},
		{`output = "x.gz"`, "gz"}, {`output = "x.zip"`, "zip"}, {`format = "tgz"`, "tar.gz"}, {`format = ".zip"`, "zip"},
	} {
		var c CompressConfig
		configtest.MustPrepare(t, "compress", tc.src, &c)
		if c.Format != tc.format {
			t.Errorf("%s: format %q, want %q", tc.src, c.Format, tc.format)
		}
		if !contains([]string{"", `format = "tgz"`, `format = ".zip"`}, tc.src) {
			continue
		}
		if c.Output != DefaultCompressOutput || c.CompressionLevel != 6 {
			t.Errorf("%s: defaults %+v", tc.src, c)
		}
	}
}
