package shelllocal_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/shelllocal"
)

// stdoutUI prints a command's output; messages are left out.
type stdoutUI struct{}

func (stdoutUI) Say(string)        {}
func (stdoutUI) Error(string)      {}
func (stdoutUI) Stdout() io.Writer { return os.Stdout }
func (stdoutUI) Stderr() io.Writer { return os.Stderr }

// The engine decodes and prepares the block; here the prepared values are
// written out.
func ExampleProvisioner() {
	cfg := &shelllocal.Config{
		Inline:          []string{`echo "$GREETING from $PACKER_BUILD_NAME"`},
		EnvironmentVars: []string{"GREETING=hello"},
		ExecuteCommand:  shelllocal.DefaultExecuteCommand,
		InlineShebang:   shelllocal.DefaultInlineShebang,
		ValidExitCodes:  []int{0},
	}
	info := provisioners.BuildInfo{Name: "null.box", SourceName: "box", Type: "null"}
	err := shelllocal.New(cfg).Provision(context.Background(), stdoutUI{}, nil, info)
	fmt.Println(err)
	// Output:
	// hello from box
	// <nil>
}
