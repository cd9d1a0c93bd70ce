#!/bin/sh
# Benchmark: the qemu whole-build cache (issue 16) on the test guest of
# scripts/qemu-fixture.sh and testdata/qemu/cache.pkr.hcl. Whole `bake
# build` processes, median wall time of RUNS (default 5):
#
#  1. cold (one run: it boots the guest, about a minute under TCG);
#  2. unchanged rebuild into a fresh output directory (target <= 1 s):
#     the disk is copied out of the cache, no qemu starts. Twice: with the
#     previous run's output directory removed first (not timed; a CI job
#     whose workspace is cleaned between jobs), and with every earlier
#     output kept. The two differ where taking new memory is slow: on a
#     VM that hands its free memory back to the hypervisor, a page the
#     kernel has not used lately costs a fault in the host (touching 2
#     GiB took 7-8 s on the machines of this project), and each run's
#     541 MiB copy is new page cache unless an earlier output's pages
#     were just freed;
#  3. unchanged rebuild with -force into the output directory the
#     previous run wrote (a developer's loop): the disk already there is
#     hashed, found to be the cache entry's, and kept; nothing is copied.
#
# Prints the cache entry's size (what the cache costs on disk). The work
# directory, with the cache, is removed at the end.
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
fixture=${BAKE_QEMU_FIXTURE:-$(scripts/qemu-fixture.sh)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$work/bake
go build -o "$bin" ./cmd/bake
export BAKE_CACHE_DIR="$work/cache"
unset BAKE_NO_CACHE
cp --sparse=always "$fixture/disk.qcow2" "$work/base.qcow2"

ms() { # wall time of one run in ms; the command must succeed
	s=$(date +%s%N)
	if ! "$@" >"$work/out" 2>&1; then
		cat "$work/out" >&2
		exit 1
	fi
	e=$(date +%s%N)
	echo $(((e - s) / 1000000))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
build() { # each run into an output directory of its own (ms runs it in a subshell)
	n=$(find "$work" -maxdepth 1 -name 'out*' | wc -l)
	"$bin" build -color=false -manifest "$work/m$n.json" -var "fixture=$fixture" -var "base=$work/base.qcow2" \
		-var "output=$work/out$n" -var "qemu=qemu-system-x86_64" -var "last=bench" testdata/qemu/cache.pkr.hcl
}

# timed COMMAND...: RUNS runs of COMMAND, which prints a time (ms), into
# $work/t; runs_t: those times on one line.
timed() {
	: >"$work/t"
	i=0
	while [ "$i" -lt "$runs" ]; do
		"$@" >>"$work/t"
		i=$((i + 1))
	done
}
runs_t() { tr '\n' ' ' <"$work/t"; }

cold=$(ms build)
echo "cold:              ${cold} ms"
fresh() { # into a fresh directory, the previous run's output removed first
	rm -rf "$work"/out*
	ms build
}
timed fresh
echo "unchanged rebuild, fresh directory, the previous one removed: median $(median <"$work/t") ms (target <= 1000; runs: $(runs_t))"
timed ms build
echo "unchanged rebuild, fresh directory, earlier outputs kept: median $(median <"$work/t") ms (runs: $(runs_t))"
in_place() { # -force into the same output directory each time
	"$bin" build -color=false -force -manifest "$work/m-in-place.json" -var "fixture=$fixture" -var "base=$work/base.qcow2" \
		-var "output=$work/in-place" -var "qemu=qemu-system-x86_64" -var "last=bench" testdata/qemu/cache.pkr.hcl
}
ms in_place >/dev/null # the first one copies the disk out of the cache
timed ms in_place
grep -q "in place (its sha256 is the entry's)" "$work/out" || { echo "qemu-cache.sh: the rebuild in place did not keep the disk:" >&2; cat "$work/out" >&2; exit 1; }
echo "unchanged rebuild, -force into the same directory: median $(median <"$work/t") ms (target <= 1000; runs: $(runs_t))"
echo "cache entry:       $(du -sh --apparent-size "$BAKE_CACHE_DIR/blobs" | cut -f1) in $BAKE_CACHE_DIR/blobs"
