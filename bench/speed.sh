#!/bin/sh
# Benchmark: the three speed ratios of issue 17, each measured in one run,
# the compared commands interleaved so that the machine's load hits them
# alike. Where `packer` is on PATH (Packer 1.9, whose bundled docker, qemu
# and amazon plugins read these templates), Packer builds the same templates
# unchanged and its column is printed; without it the column says
# "no packer".
#
#  1. docker: a cold `bake build -no-cache` of the reference template (the
#     Debian base, 10 shell provisioners, a file provisioner uploading a
#     directory of 10 x 100 KB files, commit) against the bare docker CLI
#     doing the same work (docker run -d, 10 x docker exec, docker cp of
#     the directory, docker commit, docker rm) and against `packer build`.
#     Median of RUNS each. CLI/bake >= 1.0 means bake is at or under the
#     CLI's cost. bake runs as a user runs it: its default run manifest,
#     provenance and SBOM (package inventory) are written too.
#  2. qemu: bench/qemu.pkr.hcl, a Packer template (the fixture's Debian
#     guest under TCG, two provisioners, shutdown_command, compressed
#     qcow2, checksum post-processor), built by bake as it is, by Packer as
#     it is, and by bake with compression_type = "zstd" added (Packer has
#     no such option). Median of QEMU_RUNS (default 1) each, with bake's
#     step times from its -json events and Packer's phases from the time
#     its lines appear. Every output is checked: qemu-img check, and the
#     checksum file against sha256sum. Before that, qemu-img convert -c of
#     the fixture disk alone: zlib as qemu-img does by default, in
#     parallel (-m N -W) and with zstd.
#  3. amazon-ebs: an AMI built against the EC2 test server whose state
#     changes take 1 s, copied to a second region. BenchmarkPackerEC2
#     (builder/amazon): one template built by the bake binary and by
#     Packer (its bundled amazon plugin, custom_endpoint_ec2); and
#     BenchmarkSlowEC2: the builder alone with bake's poll schedule and
#     with Packer's fixed one (5 s between instance polls, 15 s between
#     image polls).
#
# PARTS (default "docker qemu amazon") picks the parts. The images,
# containers and files it makes are removed.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${RUNS:-5}
qruns=${QEMU_RUNS:-1}
parts=${PARTS:-docker qemu amazon}
work=$(mktemp -d)
bin=$work/bake
go build -o "$bin" ./cmd/bake
base=${BAKE_BASE_IMAGE:-bake.local/debian:bookworm}
have_packer=no
if command -v packer >/dev/null 2>&1; then
	have_packer=yes
	# Packer keeps its cache, config and plugins out of $HOME, and does
	# not call home.
	export CHECKPOINT_DISABLE=1 PACKER_CACHE_DIR="$work/packer-cache" PACKER_CONFIG_DIR="$work/packer-config"
	unset PACKER_LOG
fi

made_images=""
cleanup() {
	for id in $made_images; do docker rmi -f "$id" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

ms() { echo $(($(date +%s%N) / 1000000)); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
secs() { awk -v a="$1" 'BEGIN {printf "%.1f s", a / 1000}'; }
# stamp: each line of stdin prefixed with the milliseconds since $1.
stamp() {
	while IFS= read -r line; do
		echo "$(($(ms) - $1)) $line"
	done
}
# artifact_image: the image id in a -json run's artifact event.
artifact_image() {
	jq -r 'select(.type == "artifact") | .artifact.id // .artifact.ID // empty' "$1" 2>/dev/null | grep '^sha256:' || true
}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2 / 1048576}' /proc/meminfo); $(uptime | sed 's/.*load average/load average/')"
echo "bake $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo '+changes'); packer: $([ "$have_packer" = yes ] && packer version | head -1 || echo 'not on PATH')"

if echo "$parts" | grep -qw docker; then
	ref=$work/ref
	ref_files "$ref"
	ref_template "$ref" >"$ref/t.pkr.hcl"
	cli() {
		c=$(docker run -d "$base" sleep infinity)
		i=1
		while [ "$i" -le 10 ]; do
			docker exec "$c" sh -c "echo $i > /s$i"
			i=$((i + 1))
		done
		docker cp "$ref/files" "$c:/opt/files" >/dev/null
		id=$(docker commit "$c")
		docker rm -f "$c" >/dev/null
		echo "$id"
	}
	: >"$work/bake.t"
	: >"$work/cli.t"
	: >"$work/packer.t"
	i=0
	while [ "$i" -lt "$runs" ]; do
		s=$(ms)
		"$bin" build -no-cache -json -manifest "$work/m.json" "$ref/t.pkr.hcl" >"$work/out" 2>"$work/err" ||
			{ cat "$work/err" >&2; tail -5 "$work/out" >&2; exit 1; }
		e=$(ms)
		echo $((e - s)) >>"$work/bake.t"
		made_images="$made_images $(artifact_image "$work/out")"
		s=$(ms)
		id=$(cli)
		e=$(ms)
		echo $((e - s)) >>"$work/cli.t"
		made_images="$made_images $id"
		if [ "$have_packer" = yes ]; then
			s=$(ms)
			if packer build -color=false "$ref/t.pkr.hcl" >"$work/pout" 2>&1; then
				e=$(ms)
				echo $((e - s)) >>"$work/packer.t"
			fi
			made_images="$made_images $(sed -n 's/.*Image ID: \(sha256:[0-9a-f]*\).*/\1/p' "$work/pout" | tail -1)"
		fi
		i=$((i + 1))
	done
	b=$(median <"$work/bake.t")
	c=$(median <"$work/cli.t")
	p="no packer"
	if [ -s "$work/packer.t" ]; then
		pm=$(median <"$work/packer.t")
		p="packer ${pm} ms, packer/bake $(ratio "$pm" "$b") (target >= 6)"
	elif [ "$have_packer" = yes ]; then
		p="packer failed: $(tail -1 "$work/pout")"
	fi
	echo "docker cold build, median of $runs interleaved runs: bake ${b} ms, bare CLI ${c} ms, CLI/bake $(ratio "$c" "$b") (target >= 1.0); $p"
	echo "  all runs (ms): bake $(tr '\n' ' ' <"$work/bake.t")| CLI $(tr '\n' ' ' <"$work/cli.t")| packer $(tr '\n' ' ' <"$work/packer.t")"
fi

if echo "$parts" | grep -qw qemu; then
	fixture=$(scripts/qemu-fixture.sh)
	disk=$fixture/disk.qcow2
	n=$(nproc)
	jobs=$((2 * n))
	[ "$jobs" -gt 16 ] && jobs=16
	work_disk=$work/work.qcow2
	# A working disk the size a build leaves: the fixture, uncompressed.
	qemu-img convert -O qcow2 "$disk" "$work_disk"
	conv() { # options...
		rm -f "$work/c.qcow2"
		s=$(ms)
		qemu-img convert -f qcow2 -O qcow2 "$@" "$work_disk" "$work/c.qcow2"
		e=$(ms)
		echo "$((e - s)) $(stat -c %s "$work/c.qcow2")"
	}
	set -- $(conv -c)
	zlib=$1 zlib_size=$2
	set -- $(conv -c -m "$jobs" -W)
	par=$1 par_size=$2
	set -- $(conv -c -o compression_type=zstd -m "$jobs" -W)
	zstd=$1 zstd_size=$2
	rm -f "$work/c.qcow2" "$work_disk"
	echo "qemu-img convert -c of the fixture disk ($(($(qemu-img info --output=json "$disk" | jq '.["actual-size"]') >> 20)) MiB allocated):"
	echo "  zlib, qemu-img's defaults (Packer): $(secs "$zlib"), $((zlib_size >> 20)) MiB"
	echo "  zlib, -m $jobs -W (bake's default):   $(secs "$par"), $((par_size >> 20)) MiB, $(ratio "$zlib" "$par")x faster"
	echo "  zstd, -m $jobs -W (compression_type): $(secs "$zstd"), $((zstd_size >> 20)) MiB, $(ratio "$zlib" "$zstd")x faster"

	ssh-keygen -q -t ed25519 -N "" -C bench -f "$work/key"
	cp --sparse=always "$disk" "$work/base.qcow2"
	sed 's/^  disk_compression     = true$/&\n  compression_type     = "zstd"/' bench/qemu.pkr.hcl >"$work/qemu-zstd.pkr.hcl"
	grep -q 'compression_type' "$work/qemu-zstd.pkr.hcl" || { echo "speed.sh: could not add compression_type to bench/qemu.pkr.hcl" >&2; exit 1; }
	# check_output DIR: the disk is sound and the checksum file matches it.
	check_output() {
		qemu-img check "$1/bench.qcow2" >"$work/check" 2>&1 || { cat "$work/check" >&2; exit 1; }
		want=$(awk '{print $1}' "$1/sha256.checksum")
		got=$(sha256sum "$1/bench.qcow2" | awk '{print $1}')
		[ "$want" = "$got" ] || { echo "speed.sh: $1/sha256.checksum says $want, sha256sum $got" >&2; exit 1; }
		stat -c %s "$1/bench.qcow2" >>"$1.size"
	}
	# bake_qemu LABEL TEMPLATE: one build, its time in LABEL.t, its steps in LABEL.steps.
	bake_qemu() {
		out=$work/q-$1
		s=$(ms)
		"$bin" build -no-cache -json -manifest "$work/qm.json" -var "fixture=$fixture" -var "base=$work/base.qcow2" \
			-var "output=$out" -var "key=$work/key" -var "public_key=$(cat "$work/key.pub")" "$2" >"$work/q.json" 2>"$work/q.err" ||
			{ cat "$work/q.err" >&2; jq -r 'select(.message or .error) | .message // .error' "$work/q.json" | tail -20 >&2; exit 1; }
		e=$(ms)
		check_output "$out"
		echo $((e - s)) >>"$work/$1.t"
		jq -r 'select(.type == "step_finished") | "\(.step)\t\(.elapsed_seconds)"' "$work/q.json" >>"$work/$1.steps"
		boot=$(jq -r 'select(.type == "step_finished" and .step == "wait for SSH") | .elapsed_seconds * 1000 | floor' "$work/q.json")
		echo $((e - s - boot)) >>"$work/$1.nb"
		rm -rf "$out"
	}
	packer_qemu() {
		out=$work/q-packer
		s=$(ms)
		rc=0
		{ packer build -color=false -var "fixture=$fixture" -var "base=$work/base.qcow2" -var "output=$out" \
			-var "key=$work/key" -var "public_key=$(cat "$work/key.pub")" bench/qemu.pkr.hcl 2>&1 || echo "exit $?"; } | stamp "$s" >"$work/pq.out"
		e=$(ms)
		if grep -q '^[0-9]* exit [0-9]*$' "$work/pq.out"; then
			echo "speed.sh: packer build bench/qemu.pkr.hcl failed:" >&2
			tail -15 "$work/pq.out" >&2
			packer_failed=yes
			return 0
		fi
		check_output "$out"
		echo $((e - s)) >>"$work/packer-q.t"
		# Packer's phases: the time between the lines that start them.
		awk -v end=$((e - s)) '
			function mark(name) { if (!(name in seen)) { seen[name] = 1; t[++k] = $1; label[k] = name } }
			/Copying hard drive|Retrieving ISO|Using local file/ { mark("prepare disk") }
			/Starting VM/ { mark("boot to SSH") }
			/Connected to SSH/ { mark("provision") }
			/Gracefully halting/ { mark("shut down") }
			/Converting hard drive/ { mark("convert disk") }
			/Running post-processor/ { mark("post-processors") }
			END { t[k + 1] = end; for (i = 1; i <= k; i++) printf "%s\t%.3f\n", label[i], (t[i + 1] - t[i]) / 1000 }
		' "$work/pq.out" >"$work/pq.steps"
		cat "$work/pq.steps" >>"$work/packer-q.steps"
		boot=$(awk -F '\t' '$1 == "boot to SSH" {printf "%d", $2 * 1000}' "$work/pq.steps")
		echo $((e - s - ${boot:-0})) >>"$work/packer-q.nb"
		rm -rf "$out"
	}
	packer_failed=no
	: >"$work/packer-q.t"
	: >"$work/packer-q.nb"
	i=0
	while [ "$i" -lt "$qruns" ]; do
		bake_qemu bake-q bench/qemu.pkr.hcl
		[ "$have_packer" = yes ] && packer_qemu
		bake_qemu bake-zstd "$work/qemu-zstd.pkr.hcl"
		i=$((i + 1))
	done
	# steps FILE: the median time of each step, in the order first seen.
	steps() {
		awk -F '\t' '{ if (!($1 in n)) order[++k] = $1; v[$1, ++n[$1]] = $2 }
			END { for (i = 1; i <= k; i++) { s = order[i]; m = n[s]; c = 0
				for (j = 1; j <= m; j++) x[j] = v[s, j]
				for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (x[b] < x[a]) { y = x[a]; x[a] = x[b]; x[b] = y }
				printf "    %-28s %6.1f s\n", s, x[int((m + 1) / 2)] } }' "$1"
	}
	bq=$(median <"$work/bake-q.t")
	bz=$(median <"$work/bake-zstd.t")
	echo "qemu build of bench/qemu.pkr.hcl, median of $qruns:"
	if [ -s "$work/packer-q.t" ]; then
		pq=$(median <"$work/packer-q.t")
		echo "  bake, template unchanged (zlib):   $(secs "$bq"); packer $(secs "$pq"), packer/bake $(ratio "$pq" "$bq") (target >= 1.5)"
		echo "  bake, compression_type = \"zstd\": $(secs "$bz"); packer $(secs "$pq"), packer/bake $(ratio "$pq" "$bz") (target >= 2.5)"
	else
		p="no packer"
		[ "$packer_failed" = yes ] && p="packer failed (above)"
		echo "  bake, template unchanged (zlib):   $(secs "$bq"); $p"
		echo "  bake, compression_type = \"zstd\": $(secs "$bz"); $p"
	fi
	# The guest's boot is the same work on both sides and, on a loaded
	# machine, the noisiest part: the time outside it is what the tools
	# themselves spend.
	bnb=$(median <"$work/bake-q.nb")
	znb=$(median <"$work/bake-zstd.nb")
	if [ -s "$work/packer-q.nb" ]; then
		pnb=$(median <"$work/packer-q.nb")
		echo "  outside the guest's boot to SSH: bake $(secs "$bnb") (zstd $(secs "$znb")), packer $(secs "$pnb"), packer/bake $(ratio "$pnb" "$bnb") (zstd $(ratio "$pnb" "$znb"))"
	else
		echo "  outside the guest's boot to SSH: bake $(secs "$bnb") (zstd $(secs "$znb"))"
	fi
	echo "  all runs (ms): bake $(tr '\n' ' ' <"$work/bake-q.t")| zstd $(tr '\n' ' ' <"$work/bake-zstd.t")| packer $(tr '\n' ' ' <"$work/packer-q.t")"
	mib() { median <"$1" | awk '{printf "%.1f MiB", $1 / 1048576}'; }
	psize="no packer"
	[ -s "$work/q-packer.size" ] && psize="packer $(mib "$work/q-packer.size")"
	echo "  output size, median: bake zlib $(mib "$work/q-bake-q.size"), zstd $(mib "$work/q-bake-zstd.size"); $psize"
	echo "  bake's steps (zlib), from -json:"
	steps "$work/bake-q.steps"
	echo "  bake's steps (zstd), from -json:"
	steps "$work/bake-zstd.steps"
	if [ -s "$work/packer-q.steps" ]; then
		echo "  packer's phases, from the time of its output lines:"
		steps "$work/packer-q.steps"
	fi
fi

if echo "$parts" | grep -qw amazon; then
	go test -count=1 -run '^$' -bench 'SlowEC2|PackerEC2' -benchtime 1x ./builder/amazon/ >"$work/ec2.txt" 2>&1 || { cat "$work/ec2.txt" >&2; exit 1; }
	metric() { # benchmark, unit
		awk -v b="$1" -v u="$2" '$1 ~ b {for (i = 1; i <= NF; i++) if ($(i+1) == u) print $i}' "$work/ec2.txt"
	}
	fixed=$(metric 'SlowEC2/fixed' s/build)
	back=$(metric 'SlowEC2/backoff' s/build)
	bake_s=$(metric PackerEC2 bake-s/op)
	packer_s=$(metric PackerEC2 packer-s/op)
	echo "amazon-ebs against the EC2 test server, 1 s state changes, AMI copied to a second region:"
	echo "  the builder alone: bake's poll schedule ${back} s, Packer's fixed schedule ${fixed} s, $(ratio "$fixed" "$back")x"
	if [ -n "$packer_s" ]; then
		echo "  whole programs, one template: bake ${bake_s} s, packer ${packer_s} s, packer/bake $(ratio "$packer_s" "$bake_s") (target >= 2)"
	else
		echo "  whole programs, one template: bake ${bake_s} s; no packer"
	fi
fi
