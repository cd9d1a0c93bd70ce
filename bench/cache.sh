#!/bin/sh
# Benchmark: the build cache with the docker builder (issue 16), on the
# reference template of bench/lib.sh (the Debian base, 10 shell
# provisioners each `echo N > /sN`, a file provisioner uploading 10 x 100 KB
# files, commit). Whole `bake build` processes, RUNS (default 7) timed runs
# each, median wall time:
#
#  1. cold, -no-cache;
#  2. cold with the cache (a fresh BAKE_CACHE_DIR each run, so the steps
#     are stored; target <= 1.15 x line 1);
#  3. unchanged rebuild (target median <= 150 ms), and bake's peak RSS
#     in it (target <= 60 MB);
#  4. only the last provisioner changed (a new value each run; target
#     <= 35 % of line 1);
#  5. the engine's floor under line 4: what a resumed build cannot do
#     without, timed on the engine's API directly (curl on its socket, no
#     bake): create a container from the base image, start it, commit it,
#     remove it. Running the changed step in it comes on top.
#
# Every image the runs made and every cache entry they stored are removed
# at the end; nothing else on the engine is touched.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${RUNS:-7}
work=$(mktemp -d)
bin=$work/bake
go build -o "$bin" ./cmd/bake
export BAKE_CACHE_DIR="$work/cache"
unset BAKE_NO_CACHE

# Only what this script made goes: the cache tags of its own cache
# directories, and every image labelled with the run id of one of its runs
# (artifacts, and step images whose cache tag a later run in another cache
# directory moved). The engine is shared: other builds' images and cache
# entries stay.
cleanup() {
	for f in "$work"/cache*/index/*.json; do
		[ -f "$f" ] || continue
		docker rmi "bake-cache:$(basename "$f" .json)" >/dev/null 2>&1 || true
	done
	if [ -f "$work/runs" ]; then
		for r in $(sort -u "$work/runs"); do
			docker images -aq --no-trunc --filter "label=dev.bake.run-id=$r" | xargs -r docker rmi -f >/dev/null 2>&1 || true
		done
	fi
	docker ps -aq --filter "label=dev.bake.bench=$work" | xargs -r docker rm -f >/dev/null 2>&1 || true
	docker images -q --filter "label=dev.bake.bench=$work" | xargs -r docker rmi -f >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

ref=$work/ref
ref_files "$ref"
template() { ref_template "$ref" "$1"; } # last-step value
template v0 >"$ref/t.pkr.hcl"

# ms COMMAND...: wall time of one run in ms; the command must succeed.
ms() {
	s=$(date +%s%N)
	if ! "$@" >"$work/out" 2>&1; then
		cat "$work/out" >&2
		exit 1
	fi
	e=$(date +%s%N)
	jq -r 'select(.type == "run_started") | .message' "$work/out" | sed -n 's/^run \([0-9a-f-]*\):.*/\1/p' >>"$work/runs"
	echo $(((e - s) / 1000000))
}
build() { "$bin" build -json -manifest "$work/m.json" "$@" "$ref/t.pkr.hcl"; }

ms build -no-cache >/dev/null # warm the engine's caches
: >"$work/t1"
: >"$work/t2"
i=0
while [ "$i" -lt "$runs" ]; do
	# Interleaved, so that load on the machine hits both alike.
	ms build -no-cache >>"$work/t1"
	export BAKE_CACHE_DIR="$work/cache-$i"
	ms build >>"$work/t2"
	i=$((i + 1))
done
nocache=$(median <"$work/t1")
cold=$(median <"$work/t2")
echo "cold, -no-cache:          median ${nocache} ms"
echo "cold, with the cache:     median ${cold} ms ($(awk -v a="$cold" -v b="$nocache" 'BEGIN {printf "%+.0f", (a / b - 1) * 100}') %; target <= +15 %)"

export BAKE_CACHE_DIR="$work/cache"
ms build >/dev/null
: >"$work/t3"
i=0
while [ "$i" -lt "$runs" ]; do
	ms build >>"$work/t3"
	i=$((i + 1))
done
echo "unchanged rebuild:        median $(median <"$work/t3") ms (target <= 150)"
/usr/bin/time -v -o "$work/time" "$bin" build -manifest "$work/m.json" "$ref/t.pkr.hcl" >/dev/null 2>&1
kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time")
echo "unchanged rebuild:        bake peak RSS $(awk -v k="$kb" 'BEGIN {printf "%.1f", k / 1024}') MB (target <= 60)"

: >"$work/t4"
i=0
while [ "$i" -lt "$runs" ]; do
	template "v$((i + 1))" >"$ref/t.pkr.hcl"
	ms build >>"$work/t4"
	i=$((i + 1))
done
last=$(median <"$work/t4")
echo "last provisioner changed: median ${last} ms ($(awk -v a="$last" -v b="$nocache" 'BEGIN {printf "%.0f", a / b * 100}') % of cold; target <= 35 %)"

# The floor: the engine calls of a resumed build, nothing else.
sock=${DOCKER_HOST:-unix:///var/run/docker.sock}
sock=${sock#unix://}
api() { curl -fsS --unix-socket "$sock" "$@"; }
base_image=${BAKE_BASE_IMAGE:-bake.local/debian:bookworm}
: >"$work/t5"
i=0
while [ "$i" -lt "$runs" ]; do
	s=$(date +%s%N)
	id=$(api -H 'Content-Type: application/json' -d '{"Image":"'"$base_image"'","Entrypoint":["/bin/sh","-c","while :; do sleep 3600; done"],"Labels":{"dev.bake.bench":"'"$work"'"}}' \
		http://engine/containers/create | jq -r .Id)
	api -X POST "http://engine/containers/$id/start"
	img=$(api -X POST "http://engine/commit?container=$id&pause=false" | jq -r .Id)
	api -X DELETE "http://engine/containers/$id?force=1"
	e=$(date +%s%N)
	api -X DELETE "http://engine/images/$img" >/dev/null
	echo $(((e - s) / 1000000)) >>"$work/t5"
	i=$((i + 1))
done
floor=$(median <"$work/t5")
echo "engine floor of line 4:   median ${floor} ms ($(awk -v a="$floor" -v b="$nocache" 'BEGIN {printf "%.0f", a / b * 100}') % of cold): create, start, commit and remove one container"
