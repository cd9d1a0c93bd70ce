#!/bin/sh
# Deploys what channel $CHANNEL points at, refusing a channel record older
# than the last one this script deployed (a replayed record), a revoked
# version, or anything that does not verify with release.pub.
#   REPO=registry.example.com/golden/base CHANNEL=prod ./deploy.sh
set -eu
: "${REPO:?}" "${CHANNEL:=prod}" "${KEY:=release.pub}" "${STATE:=.deployed-sequence}"
min=$(cat "$STATE" 2>/dev/null || echo 0)
set +e
out=$(bake resolve "$REPO:$CHANNEL" -build docker.base -key "$KEY" -min-sequence "$min" -json)
rc=$?
set -e
case $rc in
0) ;;
3) echo "deploy: $REPO:$CHANNEL not found" >&2; exit 1 ;;
4) echo "deploy: the version is revoked: roll the channel back (bake channel rollback)" >&2; exit 1 ;;
5|8) echo "deploy: REFUSED: signature or sequence check failed; do not deploy" >&2; exit 1 ;;
*) echo "deploy: bake resolve failed (exit $rc)" >&2; exit 1 ;;
esac
image=$(printf '%s' "$out" | jq -r '.artifacts[0].ref')
seq=$(printf '%s' "$out" | jq -r '.sequence')
# The image carries the run's signed statement (bake build attached it):
# what a cluster's admission controller checks with cosign verify-attestation
# --type https://bake.dev/manifest/v1, checked here before rolling out.
bake attest -verify -key "$KEY" "$image" >/dev/null || { echo "deploy: REFUSED: $image carries no attestation that verifies" >&2; exit 1; }
echo "deploying $image (channel $CHANNEL, sequence $seq)"
kubectl set image deployment/web web="$image"
echo "$seq" > "$STATE"
