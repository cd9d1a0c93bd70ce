#!/bin/sh
# Benchmark: whole `bake build` processes with the docker builder against
# the local engine (scripts/setup.sh starts it and makes the base image).
#
#  1. examples/docker/hello.pkr.hcl: median wall time and bake's peak RSS
#     (/usr/bin/time -v).
#  2. The reference template of issue 4 (bench/lib.sh): the Debian base, 10 shell
#     provisioners each `echo N > /sN`, one file provisioner uploading a
#     directory of 10 x 100 KB files, commit. Median wall time, peak RSS, and
#     from one -json run the median time of each kind of step. Targets:
#     median <= 1.5 s, peak RSS <= 60 MB.
#
# Every build is cold (-no-cache), after one warm-up run. The images the
# runs commit (and only those) are removed at the end, and bake-hello:latest
# is put back on the image it named before. RUNS (default 5) sets the
# number of timed runs.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${RUNS:-5}
work=$(mktemp -d)
bin=$work/bake
go build -o "$bin" ./cmd/bake

hello_before=$(docker image inspect -f '{{.Id}}' bake-hello:latest 2>/dev/null || true)
# Only the images this script's runs made go (the engine is shared).
cleanup() {
	if [ -f "$work/made" ]; then
		for id in $(sort -u "$work/made"); do
			[ "$id" = "$hello_before" ] || docker rmi -f "$id" >/dev/null 2>&1 || true
		done
	fi
	if [ -n "$hello_before" ]; then
		docker tag "$hello_before" bake-hello:latest 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# build TEMPLATE: one cold build (-no-cache: a cached rebuild would reuse
# the image instead of building it), its -json events in $work/out, its
# image recorded for the cleanup. It must succeed.
build() {
	if ! "$bin" build -no-cache -json -manifest "$work/m.json" "$1" >"$work/out" 2>&1; then
		cat "$work/out" >&2
		exit 1
	fi
	made
}
# made: records the image of the run whose events are in $work/out.
made() {
	jq -r 'select(.type == "artifact") | .artifact.id' "$work/out" | grep '^sha256:' >>"$work/made" || true
}

median_ms() { # template; prints the median wall time of runs builds, in ms, after one warm-up
	build "$1"
	: >"$work/t"
	i=0
	while [ "$i" -lt "$runs" ]; do
		s=$(date +%s%N)
		build "$1"
		e=$(date +%s%N)
		echo $(((e - s) / 1000000)) >>"$work/t"
		i=$((i + 1))
	done
	median <"$work/t"
}

peak_rss_mb() { # template; prints the largest peak RSS of runs builds, in MB
	max=0
	i=0
	while [ "$i" -lt "$runs" ]; do
		/usr/bin/time -v -o "$work/time" "$bin" build -no-cache -json -manifest "$work/m.json" "$1" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
		made
		kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time")
		[ "$kb" -gt "$max" ] && max=$kb
		i=$((i + 1))
	done
	awk -v k="$max" 'BEGIN {printf "%.1f", k / 1024}'
}

hello="examples/docker/hello.pkr.hcl"
t=$(median_ms "$hello")
rss=$(peak_rss_mb "$hello")
echo "hello.pkr.hcl ($runs runs): median ${t} ms, bake peak RSS ${rss} MB"

# The reference template (bench/lib.sh).
ref=$work/ref
ref_files "$ref"
ref_template "$ref" >"$ref/t.pkr.hcl"
t=$(median_ms "$ref/t.pkr.hcl")
rss=$(peak_rss_mb "$ref/t.pkr.hcl")
echo "reference template ($runs runs): median ${t} ms (target <= 1500), bake peak RSS ${rss} MB (target <= 60)"

# Where the time goes, from one run's step events: the median of each kind
# of step (the 10 shell steps are one kind), and cleanups.
build "$ref/t.pkr.hcl"
cp "$work/out" "$work/events.json"
jq -rs '
  def median: sort | .[(length - 1) / 2 | floor];
  [.[] | select(.type == "step_finished" or .type == "cleanup")
       | {k: (if .type == "cleanup" then "cleanup: " + .step else .step end), s: .elapsed_seconds}]
  | group_by(.k) | map({k: .[0].k, n: length, ms: (map(.s) | median * 1000)})
  | sort_by(-.ms)[] | "  \(.k)\(if .n > 1 then " (median of \(.n))" else "" end): \(.ms * 10 | round / 10) ms"
' "$work/events.json"
