package main

import (
	"context"
	"fmt"
)

func runKeygen(ctx context.Context, env *cliEnv, args []string) int {
	fmt.Fprintln(env.stderr, "bake keygen: not implemented yet")
	return exitUsage
}
