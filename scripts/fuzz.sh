#!/bin/sh
# fuzz.sh runs every Go fuzz target in the repository (each `func FuzzXxx`
# in a _test.go file), one at a time, for FUZZTIME each (default 5s), so
# that CI runs them briefly; test.sh calls it after `go vet`. A crash
# fails the run, after every target ran, and Go writes the input that
# crashed into the package's testdata/fuzz/FuzzXxx/, where `go test` runs
# it from then on: commit it with the fix.
#
#   FUZZTIME=10m scripts/fuzz.sh          # a long run of every target
#   scripts/fuzz.sh ./templates/...       # only the targets under a path
#
# FUZZMINIMIZETIME (default 10s) bounds the minimisation of each input,
# FUZZPARALLEL (default 1) the number of fuzzing processes per target.
set -eu
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
FUZZTIME=${FUZZTIME:-5s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-10s}
FUZZPARALLEL=${FUZZPARALLEL:-1}

# The directories to search: the arguments (Go-style ./dir/... or ./dir),
# or the whole repository.
roots=""
for a in "$@"; do
	roots="$roots ${a%/...}"
done
[ -n "$roots" ] || roots=.

failed=""
count=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
for file in $(grep -rlE --include='*_test.go' --exclude-dir=.git --exclude-dir=testdata '^func Fuzz[A-Z0-9_]' $roots | sort); do
	dir=$(dirname "$file")
	case $dir in
	/* | ./*) ;;
	*) dir=./$dir ;;
	esac
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$file"); do
		count=$((count + 1))
		echo "==> $dir $name ($FUZZTIME)"
		if ! go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" \
			-fuzzminimizetime "$FUZZMINIMIZETIME" -parallel "$FUZZPARALLEL" "$dir" >"$out" 2>&1; then
			cat "$out"
			# Go's fuzzing engine reports "context deadline exceeded" when
			# -fuzztime ends while it minimises a new input it found (the
			# target runs many times then, uncounted: "0/sec" in its
			# progress lines) or while an input still runs on a loaded
			# machine; that is no crash and writes no input. A crash
			# always writes one ("Failing input written to").
			if grep -q 'Failing input written to' "$out" || ! grep -q 'context deadline exceeded' "$out"; then
				failed="$failed $dir:$name"
			else
				echo "==> $dir $name: the engine's deadline ran out mid-input (no crash)"
			fi
		else
			tail -n 2 "$out"
		fi
	done
done
echo "==> fuzz: $count targets in $(($(date +%s) - start))s"
if [ "$count" -eq 0 ]; then
	echo "fuzz.sh: no fuzz target found" >&2
	exit 1
fi
if [ -n "$failed" ]; then
	echo "fuzz.sh: failed:$failed (the inputs are under each package's testdata/fuzz/)" >&2
	exit 1
fi
