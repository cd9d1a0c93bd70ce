#!/bin/sh
# quickstart.sh: on a fresh Debian machine, install what bake needs (Docker
# engine), start it, make the local base image, build bake, and run a real
# build of examples/docker/hello.pkr.hcl. Run it as root from the repo.
set -eu
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
	exec sudo -E "$0" "$@"
fi
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
./scripts/setup.sh
go build -o bin/bake ./cmd/bake
./bin/bake build -manifest bin/hello.sigstore.json examples/docker/hello.pkr.hcl
echo
echo "Built. Try: docker run --rm bake-hello:latest"
