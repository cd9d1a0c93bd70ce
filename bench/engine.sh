#!/bin/sh
# Benchmark: the build engine's overhead, as whole bake processes.
#
#  1. Per provisioner step: one null build (communicator "none") with 1 and
#     with 101 no-op shell-local provisioners (`true`); the difference over
#     100 is the cost of one step, fork+exec of /bin/sh included. Target for
#     the engine's own part: under 5 ms (go test -bench BenchmarkProvisionerStep
#     ./internal/engine isolates it without the fork).
#  2. 10, 50 and 100 parallel null builds with one no-op step each: the wall
#     time should grow no faster than linearly.
#
# Prints median wall times (hyperfine when installed, else a plain loop).
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$work/bake
go build -o "$bin" ./cmd/bake

# template NAME BUILDS STEPS writes a template with BUILDS null sources and
# STEPS no-op shell-local provisioners.
template() {
	dir=$work/$1
	mkdir -p "$dir"
	{
		i=0
		refs=""
		while [ "$i" -lt "$2" ]; do
			printf 'source "null" "b%d" {\n  communicator = "none"\n}\n' "$i"
			refs="$refs\"source.null.b$i\","
			i=$((i + 1))
		done
		printf 'build {\n  sources = [%s]\n' "$refs"
		i=0
		while [ "$i" -lt "$3" ]; do
			printf '  provisioner "shell-local" {\n    inline = ["true"]\n  }\n'
			i=$((i + 1))
		done
		printf '}\n'
	} >"$dir/t.pkr.hcl"
	echo "$dir"
}

median_ms() { # command... ; prints the median wall time in ms
	if command -v hyperfine >/dev/null 2>&1; then
		hyperfine --warmup 2 --runs "${RUNS:-15}" -N --export-json "$work/h.json" "$*" >/dev/null 2>&1
		grep -o '"median": *[0-9.e-]*' "$work/h.json" | awk '{printf "%.1f", $2 * 1000}'
	else
		n=${RUNS:-15}
		i=0
		: >"$work/t"
		while [ "$i" -lt "$n" ]; do
			s=$(date +%s%N)
			"$@" >/dev/null 2>&1
			e=$(date +%s%N)
			echo $(((e - s) / 1000)) >>"$work/t"
			i=$((i + 1))
		done
		sort -n "$work/t" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
	fi
}

one=$(template one 1 1)
many=$(template many 1 101)
t1=$(median_ms "$bin" build -manifest "$work/m.json" "$one")
t101=$(median_ms "$bin" build -manifest "$work/m.json" "$many")
echo "1 build, 1 step:    ${t1} ms"
echo "1 build, 101 steps: ${t101} ms"
awk -v a="$t1" -v b="$t101" 'BEGIN {printf "per provisioner step (incl. fork/exec of sh): %.2f ms\n", (b - a) / 100}'

for n in 10 50 100; do
	d=$(template "par$n" "$n" 1)
	t=$(median_ms "$bin" build -manifest "$work/m.json" "$d")
	awk -v n="$n" -v t="$t" 'BEGIN {printf "%3d parallel null builds: %7.1f ms  (%.2f ms per build)\n", n, t, t / n}'
done
