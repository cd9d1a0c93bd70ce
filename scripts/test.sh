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
[ $# -eq 0 ] || exit 0
# Every fuzz target then runs briefly beyond its seed corpus (FUZZTIME each,
# default 10s); a crasher fails the run and is written under testdata/fuzz.
for f in $(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		go test -run '^$' -fuzz "^$name\$" -fuzztime "${FUZZTIME:-10s}" "$(dirname "$f")"
	done
done
