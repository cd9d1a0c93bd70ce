package main

import (
	"os"
	"testing"
)

// TestMain turns the build cache off for this package's tests unless the
// environment says otherwise: they run bake as a Packer user would and
// expect each build's steps to run. The cache's own tests turn it back on
// with a BAKE_CACHE_DIR of their own (t.Setenv).
func TestMain(m *testing.M) {
	if _, ok := os.LookupEnv("BAKE_NO_CACHE"); !ok {
		os.Setenv("BAKE_NO_CACHE", "1")
	}
	os.Exit(m.Run())
}
