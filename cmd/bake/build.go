package main

import (
	"context"
	"fmt"
)

func runBuild(ctx context.Context, env *cliEnv, args []string) int {
	fmt.Fprintln(env.stderr, "bake build: not implemented yet")
	return exitUsage
}
