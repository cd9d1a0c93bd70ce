#!/bin/sh
# Benchmark: `bake validate` as a whole process on a template with 3 sources,
# 10 provisioners and 20 variables. Target: median wall time <= 30 ms.
# Uses hyperfine when installed (apt-get install -y hyperfine), else a
# plain loop reporting the median.
set -eu
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/bake
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/bake
tmpl=bench/validate/template.pkr.hcl
"$bin" validate "$tmpl" >/dev/null
if command -v hyperfine >/dev/null 2>&1; then
	hyperfine --warmup 5 --runs "${RUNS:-50}" -N --export-json "$bin.json" "$bin validate $tmpl"
	grep -o '"median": *[0-9.e-]*' "$bin.json" | awk '{printf "median %.1f ms\n", $2 * 1000}'
else
	runs=${RUNS:-50}
	i=0
	: >"$bin.times"
	while [ "$i" -lt "$runs" ]; do
		s=$(date +%s%N)
		"$bin" validate "$tmpl" >/dev/null
		e=$(date +%s%N)
		echo $(((e - s) / 1000)) >>"$bin.times"
		i=$((i + 1))
	done
	sort -n "$bin.times" | awk '{a[NR]=$1} END {printf "median %.1f ms over %d runs\n", a[int((NR+1)/2)]/1000, NR}'
fi
