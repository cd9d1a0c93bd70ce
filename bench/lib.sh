# Shared by the docker benchmarks (bench/docker.sh, bench/cache.sh,
# bench/speed.sh): sourced, not run.
#
# The reference template of issue 4: the Debian base (BAKE_BASE_IMAGE),
# 10 shell provisioners each `echo N > /sN`, a file provisioner uploading a
# directory of 10 x 100 KB random files to /opt, commit.

# ref_files DIR: makes DIR/files, the directory the file provisioner
# uploads.
ref_files() {
	mkdir -p "$1/files"
	_i=0
	while [ "$_i" -lt 10 ]; do
		head -c 102400 /dev/urandom >"$1/files/f$_i"
		_i=$((_i + 1))
	done
}

# ref_template DIR [LAST]: prints the reference template uploading
# DIR/files; with LAST, one more shell provisioner after the file one,
# `echo LAST > /last` (bench/cache.sh changes it to rerun the last step).
ref_template() {
	printf 'source "docker" "ref" {\n  image  = "%s"\n  pull   = false\n  commit = true\n}\n\n' "${BAKE_BASE_IMAGE:-bake.local/debian:bookworm}"
	printf 'build {\n  sources = ["source.docker.ref"]\n'
	_i=1
	while [ "$_i" -le 10 ]; do
		printf '  provisioner "shell" {\n    inline = ["echo %d > /s%d"]\n  }\n' "$_i" "$_i"
		_i=$((_i + 1))
	done
	printf '  provisioner "file" {\n    source      = "%s"\n    destination = "/opt"\n  }\n' "$1/files"
	if [ $# -gt 1 ]; then
		printf '  provisioner "shell" {\n    inline = ["echo %s > /last"]\n  }\n' "$2"
	fi
	printf '}\n'
}

# median: the median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
