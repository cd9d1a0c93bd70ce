package main

import (
	"context"
	"fmt"
)

func runVerify(ctx context.Context, env *cliEnv, args []string) int {
	fmt.Fprintln(env.stderr, "bake verify: not implemented yet")
	return exitUsage
}
