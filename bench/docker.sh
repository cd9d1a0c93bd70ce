#!/bin/sh
# Benchmark: whole `bake build` processes with the docker builder against
# the local engine (scripts/setup.sh starts it and makes the base image).
#
#  1. examples/docker/hello.pkr.hcl: median wall time (hyperfine, else a
#     plain loop) and bake's peak RSS (/usr/bin/time -v).
#  2. The reference template of issue 4: the Debian base, 10 shell
#     provisioners each `echo N > /sN`, one file provisioner uploading a
#     directory of 10 x 100 KB files, commit. Median wall time, peak RSS, and
#     from one -json run the median time of each kind of step. Targets:
#     median <= 1.5 s, peak RSS <= 60 MB.
#
# The images the runs commit are removed at the end, and bake-hello:latest
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
images_before=$(docker images -aq --no-trunc --filter label=dev.bake.run-id)
cleanup() {
	for id in $(docker images -aq --no-trunc --filter label=dev.bake.run-id); do
		case "$images_before" in *"$id"*) continue ;; esac
		if [ "$id" != "$hello_before" ]; then
			docker rmi -f "$id" >/dev/null 2>&1 || true
		fi
	done
	if [ -n "$hello_before" ]; then
		docker tag "$hello_before" bake-hello:latest 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

median_ms() { # command... ; prints the median wall time in ms
	if command -v hyperfine >/dev/null 2>&1; then
		hyperfine --warmup 1 --runs "$runs" -N --export-json "$work/h.json" "$*" >/dev/null 2>&1
		jq -r '.results[0].median * 1000 | floor' "$work/h.json"
	else
		: >"$work/t"
		i=0
		while [ "$i" -lt "$runs" ]; do
			s=$(date +%s%N)
			"$@" >/dev/null 2>&1
			e=$(date +%s%N)
			echo $(((e - s) / 1000000)) >>"$work/t"
			i=$((i + 1))
		done
		sort -n "$work/t" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
	fi
}

peak_rss_mb() { # command... ; prints the largest peak RSS of runs runs, in MB
	max=0
	i=0
	while [ "$i" -lt "$runs" ]; do
		/usr/bin/time -v -o "$work/time" "$@" >/dev/null 2>&1
		kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time")
		[ "$kb" -gt "$max" ] && max=$kb
		i=$((i + 1))
	done
	awk -v k="$max" 'BEGIN {printf "%.1f", k / 1024}'
}

# Each command must succeed before it is timed.
check() {
	if ! "$@" >"$work/out" 2>&1; then
		cat "$work/out" >&2
		exit 1
	fi
}

hello="examples/docker/hello.pkr.hcl"
check "$bin" build -manifest "$work/m.json" "$hello"
t=$(median_ms "$bin" build -manifest "$work/m.json" "$hello")
rss=$(peak_rss_mb "$bin" build -manifest "$work/m.json" "$hello")
echo "hello.pkr.hcl ($runs runs): median ${t} ms, bake peak RSS ${rss} MB"

# The reference template (bench/lib.sh).
ref=$work/ref
ref_files "$ref"
ref_template "$ref" >"$ref/t.pkr.hcl"
check "$bin" build -manifest "$work/m.json" "$ref/t.pkr.hcl"
t=$(median_ms "$bin" build -manifest "$work/m.json" "$ref/t.pkr.hcl")
rss=$(peak_rss_mb "$bin" build -manifest "$work/m.json" "$ref/t.pkr.hcl")
echo "reference template ($runs runs): median ${t} ms (target <= 1500), bake peak RSS ${rss} MB (target <= 60)"

# Where the time goes, from one run's step events: the median of each kind
# of step (the 10 shell steps are one kind), and cleanups.
"$bin" build -json -manifest "$work/m.json" "$ref/t.pkr.hcl" >"$work/events.json"
jq -rs '
  def median: sort | .[(length - 1) / 2 | floor];
  [.[] | select(.type == "step_finished" or .type == "cleanup")
       | {k: (if .type == "cleanup" then "cleanup: " + .step else .step end), s: .elapsed_seconds}]
  | group_by(.k) | map({k: .[0].k, n: length, ms: (map(.s) | median * 1000)})
  | sort_by(-.ms)[] | "  \(.k)\(if .n > 1 then " (median of \(.n))" else "" end): \(.ms * 10 | round / 10) ms"
' "$work/events.json"
