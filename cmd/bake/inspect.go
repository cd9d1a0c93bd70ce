package main

import (
	"context"
	"fmt"
)

func runInspect(ctx context.Context, env *cliEnv, args []string) int {
	fmt.Fprintln(env.stderr, "bake inspect: not implemented yet")
	return exitUsage
}
