package main

import (
	"context"
	"fmt"
)

func runValidate(ctx context.Context, env *cliEnv, args []string) int {
	fmt.Fprintln(env.stderr, "bake validate: not implemented yet")
	return exitUsage
}
