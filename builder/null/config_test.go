package null

import (
	"testing"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

func TestPrepare(t *testing.T) {
	configtest.Run(t, "null", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "ssh", Src: "ssh_host = \"10.0.0.1\"\nssh_username = \"root\""},
		{Name: "none", Src: `communicator = "none"`},
		{Name: "host from build", Src: "ssh_host = build.Host\nssh_username = \"root\""},
		{Src: `ssh_username = "root"`, Want: `needs the option "ssh_host"`},
		{Src: `ssh_host = "h"`, Want: `needs the option "ssh_username"`},
		{Src: "ssh_host = \"h\"\nssh_username = \"u\"\nssh_port = 0", Want: `"ssh_port" must be a TCP port`, Line: 3},
		{Src: "ssh_host = \"h\"\nssh_usrname = \"u\"", Want: `Did you mean "ssh_username"?`, Line: 2},
	})
}
