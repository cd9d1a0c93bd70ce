package shelllocal

import (
	"reflect"
	"testing"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

func TestPrepare(t *testing.T) {
	configtest.Run(t, "shell-local", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "inline", Src: "inline = [\"echo hi\"]\nonly_on = [\"linux\", \"darwin\"]"},
		{Name: "command", Src: `command = "echo hi"`},
		{Name: "script", Src: `script = "config.go"`},
		{Name: "execute_command", Src: "command = \"x\"\nexecute_command = [\"/bin/bash\", \"-c\", \"{{.Vars}} {{.Script}}\"]"},
		{Src: `environment_vars = ["A=1"]`, Want: `needs exactly one of "inline", "script", "scripts", "command"`, Line: 1},
		{Src: "command = \"a\"\ninline = [\"b\"]", Want: "Conflicting options", Line: 1},
		{Src: `scripts = ["config.go", "missing.sh"]`, Want: `There is no file "missing.sh"`, Line: 1},
		{Src: "command = \"a\"\nenvironment_vars = [\"A\"]", Want: `"A" is not in the form "KEY=value"`, Line: 2},
		{Src: "command = \"a\"\nexecute_command = []", Want: `"execute_command" is empty`, Line: 2},
		{Src: "command = \"a\"\nexecute_command = \"/bin/sh -c\"", Want: "list of string required", Line: 2},
		{Src: "command = \"a\"\nexecute_command = [\"/bin/sh\", \"{{.Script\"]", Want: `In "execute_command" element 2: invalid {{ }} syntax`, Line: 2},
		{Src: "command = \"a\"\nexecute_command = [\"/bin/sh\", \"-c\", \"true\"]", Want: "does not contain {{.Script}}", Line: 2, Warning: true},
		{Src: "command = \"a\"\nonly_on = [\"linux\", \"linx\"]", Want: `Did you mean "linux"?`, Line: 2},
		{Src: "command = \"a\"\nvalid_exit_codes = []", Want: `"valid_exit_codes" is empty`, Line: 2},
	})
}

func TestPrepareDefaults(t *testing.T) {
	var c Config
	configtest.MustPrepare(t, "shell-local", `command = "true"`, &c)
	if !reflect.DeepEqual(c.ExecuteCommand, []string{"/bin/sh", "-c", "{{.Vars}} {{.Script}}"}) ||
		c.InlineShebang != "/bin/sh -e" || !reflect.DeepEqual(c.ValidExitCodes, []int{0}) || c.EnvVarFormat != "%s='%s' " {
		t.Fatalf("defaults not filled: %+v", c)
	}
	c.ExecuteCommand[0] = "changed"
	if DefaultExecuteCommand[0] != "/bin/sh" {
		t.Fatal("config shares the default's backing array")
	}
}
