#!/bin/sh
# Builds cosign 2.x from the Go module proxy into the fixture cache, where
# the registry tests find it (artifacts/registry: cosign verify-attestation
# against what bake attest attached). Idempotent: keyed on the version.
# Large (about 110 MB, several minutes on a loaded machine); tests run
# without it and say that only bake's own verifier ran.
set -eu
VERSION=${COSIGN_VERSION:-v2.4.1}
DIR=${FIXTURES:-/var/cache/bake-fixtures}/cosign
if [ -x "$DIR/cosign" ] && [ "$(cat "$DIR/VERSION" 2>/dev/null)" = "$VERSION" ]; then
	echo "cosign $VERSION: cached in $DIR"
	exit 0
fi
mkdir -p "$DIR"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && GOBIN="$TMP/bin" GOFLAGS=-mod=mod go install "github.com/sigstore/cosign/v2/cmd/cosign@$VERSION")
mv "$TMP/bin/cosign" "$DIR/cosign"
echo "$VERSION" >"$DIR/VERSION"
echo "cosign $VERSION: built into $DIR"
