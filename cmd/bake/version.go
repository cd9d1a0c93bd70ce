package main

import (
	"context"
	"fmt"
	"runtime"
)

// version is set at link time: -ldflags "-X main.version=1.2.3".
var version = "0.1.0-dev"

func runVersion(ctx context.Context, env *cliEnv, args []string) int {
	fmt.Fprintf(env.stdout, "bake %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
