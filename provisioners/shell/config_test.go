package shell

import (
	"reflect"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

func TestPrepare(t *testing.T) {
	configtest.Run(t, "shell", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "inline", Src: "inline = [\"echo hi\"]\nenvironment_vars = [\"A=1\", \"B=\", \"C=x=y\"]\nenv = { D = \"4\" }"},
		{Name: "script", Src: `script = "config.go"`},
		{Name: "scripts", Src: `scripts = ["config.go", "doc.go"]`},
		{Name: "unknown script", Src: `script = build.ID`},
		{Src: `environment_vars = ["A=1"]`, Want: `needs exactly one of "inline", "script", "scripts"`, Line: 1},
		{Src: "inline = [\"a\"]\nscript = \"config.go\"", Want: `"inline" and "script" are all set`, Line: 2},
		{Src: `inline = []`, Want: `"inline" is empty`, Line: 1},
		{Src: `script = "missing.sh"`, Want: `There is no file "missing.sh"`, Line: 1},
		{Src: "scripts = [\n  \"config.go\",\n  \"gone.sh\",\n]", Want: `There is no file "gone.sh"`, Line: 3},
		{Src: "inline = [\"a\"]\nenvironment_vars = [\n  \"A=1\",\n  \"NOVALUE\",\n]", Want: `"NOVALUE" is not in the form "KEY=value"`, Line: 4},
		{Src: "inline = [\"a\"]\nenvironment_vars = [\"1A=1\"]", Want: `"1A" is not a valid variable name`, Line: 2},
		{Src: "inline = [\"a\"]\nenv = {\n  \"OK\" = \"1\"\n  \"BAD-NAME\" = \"2\"\n}", Want: `"BAD-NAME" is not a valid variable name`, Line: 4},
		{Src: "inline = [\"a\"]\nexecute_command = \"{{.Vars}} {{.Path\"", Want: `In "execute_command": invalid {{ }} syntax`, Line: 2},
		{Src: "inline = [\"a\"]\nenv_var_format = \"%s\"", Want: `must contain "%s" twice`, Line: 2},
		{Src: "inline = [\"a\"]\nvalid_exit_codes = []", Want: `"valid_exit_codes" is empty`, Line: 2},
		{Src: "inline = [\"a\"]\nstart_retry_timeout = \"forever\"", Want: "not a duration", Line: 2},
		{Src: "script = \"config.go\"\ninline_shebang = \"/bin/bash\"", Want: `only applies to "inline"`, Line: 2, Warning: true},
		{Src: "inline = [\"a\"]\nremote_path = \"/tmp/x.sh\"\nremote_folder = \"/var/tmp\"", Want: `has no effect when "remote_path" is set`, Line: 3, Warning: true},
	})
}

func TestPrepareDefaults(t *testing.T) {
	var c Config
	configtest.MustPrepare(t, "shell", `inline = ["true"]`, &c)
	want := Config{
		Inline: []string{"true"}, ExecuteCommand: "chmod +x {{.Path}}; {{.Vars}} {{.Path}}",
		EnvVarFormat: "%s='%s' ", InlineShebang: "/bin/sh -e", RemoteFolder: "/tmp",
		ValidExitCodes: []int{0}, StartRetryTimeout: 5 * time.Minute,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}
