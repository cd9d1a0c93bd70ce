#!/bin/sh
# test.sh is the one command that runs bake's tests on a Debian machine:
# it prepares everything the tests talk to (scripts/setup.sh: Docker engine,
# registry, sshd, qemu, base image) and runs the whole suite against them.
# Run it as root. Extra arguments go to `go test`, e.g. -run TestDocker.
set -eu
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
	exec sudo -E "$0" "$@"
fi
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
./scripts/setup.sh
# cosign, which the supply-chain tests run against bake's statements and
# attestations (built once from the module proxy, cached with the fixtures).
./scripts/cosign.sh
go vet ./...
# The suite's tests run bake as a Packer user would and expect each build's
# steps to run: the build cache is off for them (BAKE_NO_CACHE=1) and its
# directory is the run's own. The cache's own tests turn it on with a
# BAKE_CACHE_DIR of their own.
BAKE_CACHE_DIR=$(mktemp -d)
trap 'rm -rf "$BAKE_CACHE_DIR"' EXIT
export BAKE_NO_CACHE=1 BAKE_CACHE_DIR
go test -count=1 -p 1 -timeout 60m "$@" ./...
# Then every fuzz target runs briefly beyond its seed corpus (the seeds ran
# above as tests; scripts/fuzz.sh: FUZZTIME each, default 5s), unless only
# some tests were asked for; a crasher fails the run and is written under
# the package's testdata/fuzz.
[ $# -gt 0 ] || ./scripts/fuzz.sh
