package file

import (
	"testing"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

func TestPrepare(t *testing.T) {
	configtest.Run(t, "file", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "upload file", Src: "source = \"config.go\"\ndestination = \"/tmp/c.go\""},
		{Name: "upload dir", Src: "source = \"./\"\ndestination = \"/tmp/\""},
		{Name: "sources", Src: "sources = [\"config.go\", \"doc.go\"]\ndestination = \"/tmp/\""},
		{Name: "content", Src: "content = \"hello\"\ndestination = \"/etc/motd\""},
		{Name: "generated", Src: "source = \"made-later.txt\"\ndestination = \"/tmp/\"\ngenerated = true"},
		{Name: "download", Src: "source = \"/etc/os-release\"\ndestination = \"out/\"\ndirection = \"download\""},
		{Src: `destination = "/tmp/"`, Want: `needs exactly one of "source", "sources", "content"`, Line: 1},
		{Src: "source = \"config.go\"\ncontent = \"x\"\ndestination = \"/tmp/\"", Want: "Conflicting options", Line: 2},
		{Src: `source = "config.go"`, Want: `needs the option "destination"`},
		{Src: "source = \"config.go\"\ndestination = \"/tmp/\"\ndirection = \"uplaod\"", Want: `Did you mean "upload"?`, Line: 3},
		{Src: "sources = [\"a\"]\ndestination = \"x/\"\ndirection = \"download\"", Want: `"sources" only works with direction = "upload"`, Line: 1},
		{Src: "content = \"a\"\ndestination = \"x\"\ndirection = \"download\"", Want: `"content" only works with direction = "upload"`, Line: 1},
		{Src: "sources = [\"config.go\", \"doc.go\"]\ndestination = \"/tmp\"", Want: `"destination" must be a directory and end in "/"`, Line: 2},
		{Src: "source = \"nope.txt\"\ndestination = \"/tmp/\"", Want: `there is no file "nope.txt". If an earlier step creates it, set generated = true`, Line: 1},
		{Src: "sources = [\n  \"config.go\",\n  \"nope.txt\",\n]\ndestination = \"/tmp/\"", Want: `there is no file "nope.txt"`, Line: 3},
	})
	var c Config
	configtest.MustPrepare(t, "file", "content = \"x\"\ndestination = \"/x\"", &c)
	if c.Direction != "upload" {
		t.Fatalf("default direction %q", c.Direction)
	}
}
