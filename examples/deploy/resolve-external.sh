#!/bin/sh
# Terraform "external" data source program: reads the query as JSON on
# stdin, runs bake resolve, prints a flat JSON object of strings.
# Query keys: ref (REG/REPO:CHANNEL or REG/REPO@VERSION), build, key, and
# optionally region and min_sequence.
set -eu
q=$(cat)
get() { printf '%s' "$q" | jq -r --arg k "$1" '.[$k] // empty'; }
set -- "$(get ref)" -build "$(get build)" -key "$(get key)" -json
[ -n "$(get region)" ] && set -- "$@" -region "$(get region)"
[ -n "$(get min_sequence)" ] && set -- "$@" -min-sequence "$(get min_sequence)"
# A failure's message is on stderr, which Terraform shows; the exit code
# (3 not found, 4 revoked, 5 bad signature, ...) fails the plan.
out=$(bake resolve "$@")
printf '%s' "$out" | jq '{
  id:       .artifacts[0].ref,
  kind:     .artifacts[0].kind,
  sha256:   (.artifacts[0].sha256 // ""),
  version:  .version,
  digest:   .versionDigest,
  sequence: ((.sequence // 0) | tostring),
  run_id:   .runId
}'
