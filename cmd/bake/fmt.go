package main

import (
	"context"
	"fmt"
)

func runFmt(ctx context.Context, env *cliEnv, args []string) int {
	fmt.Fprintln(env.stderr, "bake fmt: not implemented yet")
	return exitUsage
}
