package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
)

// version is set at link time: -ldflags "-X main.version=1.2.3".
var version = "0.1.0-dev"

func runVersion(ctx context.Context, env *cliEnv, args []string) int {
	if env.machine != nil {
		// Packer's lines, its "version-prelease" spelling included.
		v, pre, _ := strings.Cut(version, "-")
		env.machine.machine("", "version", v)
		env.machine.machine("", "version-prelease", pre)
		env.machine.machine("", "version-commit", "")
	}
	fmt.Fprintf(env.stdout, "bake %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
