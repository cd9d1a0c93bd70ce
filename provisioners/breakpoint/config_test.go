package breakpoint

import (
	"testing"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

func TestPrepare(t *testing.T) {
	configtest.Run(t, "breakpoint", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "empty", Src: ``},
		{Name: "both", Src: "disable = true\nnote = \"look at /etc\""},
		{Src: "note = \"x\"\npause = true", Want: `An argument named "pause" is not expected here`, Line: 2},
	})
}
