// Package bakebin builds the bake binary once per test process, for tests
// that must run bake as a real process (signals, exit codes, environment).
package bakebin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
)

// Path returns the path of a bake binary built from this checkout, or
// $BAKE_TEST_BIN when set. The build happens once per test process; a
// failure fails t.
func Path(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("BAKE_TEST_BIN"); bin != "" {
		return bin
	}
	once.Do(func() {
		dir, derr := os.MkdirTemp("", "bake-bin-")
		if derr != nil {
			err = derr
			return
		}
		path = filepath.Join(dir, "bake")
		out, berr := exec.Command("go", "build", "-o", path, "github.com/bake-tool/bake/cmd/bake").CombinedOutput()
		if berr != nil {
			err = fmt.Errorf("go build: %v\n%s", berr, out)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}
