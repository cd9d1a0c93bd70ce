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
go vet ./...
go test -count=1 -p 1 -timeout 60m "$@" ./...
# Then every fuzz target runs briefly beyond its seed corpus (the seeds ran
# above as tests; scripts/fuzz.sh: FUZZTIME each, default 5s), unless only
# some tests were asked for; a crasher fails the run and is written under
# the package's testdata/fuzz.
[ $# -gt 0 ] || exec ./scripts/fuzz.sh
