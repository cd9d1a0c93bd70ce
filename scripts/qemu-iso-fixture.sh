#!/bin/sh
# qemu-iso-fixture.sh makes the bootable ISO the qemu builder's
# boot_command test installs from: the kernel and initrd of the guest that
# scripts/qemu-fixture.sh makes, behind an ISOLINUX boot prompt (Debian's
# isolinux and syslinux-common packages) put on the ISO with xorriso.
#
# The prompt waits for ever (PROMPT 1, TIMEOUT 0, no DEFAULT): the guest
# boots only when a line naming the "bake" label is typed at it, and the
# rest of the typed line is appended to the kernel command line, where the
# test finds it in the guest's /proc/cmdline. The prompt is echoed on the
# serial console too (SERIAL 0), so a test can see when it is up.
#
# Needs xorriso, cpio, isolinux and syslinux-common.
#
# The result is cached in $BAKE_FIXTURES/qemu-iso-<hash of this file and
# of the guest fixture's directory>/boot.iso (default
# /var/cache/bake-fixtures); the directory's path is printed on stdout.
# Run it as root (for qemu-fixture.sh); it is idempotent and safe to run
# concurrently.
set -eu

FIXTURES=${BAKE_FIXTURES:-/var/cache/bake-fixtures}
ISOLINUX=${BAKE_ISOLINUX:-/usr/lib/ISOLINUX/isolinux.bin}
LDLINUX=${BAKE_LDLINUX:-/usr/lib/syslinux/modules/bios/ldlinux.c32}

guest=${BAKE_QEMU_FIXTURE:-$("$(dirname "$0")/qemu-fixture.sh")}
key=$( (cat "$0"; echo "$guest") | sha256sum | cut -c1-16)
out="$FIXTURES/qemu-iso-$key"
if [ -f "$out/ready" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$FIXTURES"
exec 9>"$FIXTURES/qemu-iso-$key.lock"
flock 9
if [ -f "$out/ready" ]; then
	echo "$out"
	exit 0
fi
for f in "$ISOLINUX" "$LDLINUX"; do
	[ -f "$f" ] || {
		echo "qemu-iso-fixture: $f is missing (scripts/setup.sh installs isolinux and syslinux-common)" >&2
		exit 1
	}
done
for cmd in xorriso cpio; do
	command -v "$cmd" >/dev/null 2>&1 || {
		echo "qemu-iso-fixture: $cmd is missing (scripts/setup.sh installs it)" >&2
		exit 1
	}
done

tmp=$(mktemp -d /var/tmp/bake-qemu-iso-fixture.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/iso/isolinux"
cp "$ISOLINUX" "$LDLINUX" "$tmp/iso/isolinux/"
cp "$guest/vmlinuz" "$tmp/iso/"
# The guest's initrd carries most of Debian's modules (130 MB unpacked):
# under TCG the BIOS reads it from the CD slowly, so the ISO gets a copy
# pruned to what a virtio disk with ext4 needs, about a tenth of the size.
ird="$tmp/initrd"
mkdir "$ird"
zcat "$guest/initrd.img" | (cd "$ird" && cpio -id --quiet)
ver=$(ls "$ird/usr/lib/modules")
mods="$ird/usr/lib/modules/$ver"
awk -v want="virtio_pci virtio_blk virtio_net ext4 crc32c_generic crc32c-intel libcrc32c" '
	BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) wanted[w[i]] = 1 }
	{ f = $1; sub(/:$/, "", f); name = f; sub(/.*\//, "", name); sub(/\.ko.*$/, "", name)
	  if (name in wanted) { keep[f] = 1; for (i = 2; i <= NF; i++) keep[$i] = 1 } }
	END { for (k in keep) print k }' "$mods/modules.dep" >"$tmp/keep"
(cd "$mods" && find kernel -name '*.ko*' -type f) | grep -vxF -f "$tmp/keep" | (cd "$mods" && xargs rm -f)
find "$mods/kernel" -type d -empty -delete
ln -s /bin/kmod "$ird/usr/sbin/depmod"
chroot "$ird" /usr/sbin/depmod "$ver"
rm "$ird/usr/sbin/depmod"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) | gzip -9n >"$tmp/iso/initrd.img"
cat >"$tmp/iso/isolinux/isolinux.cfg" <<'CFG'
SERIAL 0 115200
PROMPT 1
TIMEOUT 0
SAY bake test ISO: type "bake <kernel arguments>" to boot
LABEL bake
  KERNEL /vmlinuz
  APPEND initrd=/initrd.img root=LABEL=bakeroot rw console=ttyS0 quiet
CFG
xorriso -as mkisofs -quiet -o "$tmp/boot.iso" -V BAKEISO \
	-b isolinux/isolinux.bin -c isolinux/boot.cat \
	-no-emul-boot -boot-load-size 4 -boot-info-table "$tmp/iso" >&2

rm -rf "$out" "$out.tmp"
mkdir -p "$out.tmp"
mv "$tmp/boot.iso" "$out.tmp/"
touch "$out.tmp/ready"
mv "$out.tmp" "$out"
echo "qemu-iso-fixture: ready: $out" >&2
echo "$out"
