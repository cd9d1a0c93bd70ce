#!/bin/sh
# qemu-uefi-fixture.sh makes the disk the qemu builder's UEFI test boots
# with OVMF: the guest of scripts/qemu-fixture.sh on a GPT disk, without
# mounting anything (no loop devices):
#
#   partition 1  EFI system partition, FAT (mkfs.vfat on an image file,
#                filled with mtools' mcopy): systemd-boot as the removable
#                media path /EFI/BOOT/BOOTX64.EFI, a loader entry for the
#                guest's kernel and initrd with
#                "root=LABEL=bakeroot rw console=ttyS0", and the two files;
#   partition 2  the guest's ext4 root file system (label bakeroot), the
#                fixture's disk.qcow2 converted to raw.
#
# The partition table is written with sfdisk on the image file and the
# partitions are placed with dd at their offsets; the result is converted
# to qcow2 (disk.qcow2).
#
# Needs qemu-img, sfdisk (fdisk), mkfs.vfat (dosfstools), mtools and
# systemd-boot-efi.
#
# The result is cached in $BAKE_FIXTURES/qemu-uefi-<hash of this file and
# of the guest fixture's directory>/disk.qcow2 (default
# /var/cache/bake-fixtures); the directory's path is printed on stdout.
# Run it as root (for qemu-fixture.sh); it is idempotent and safe to run
# concurrently.
set -eu

FIXTURES=${BAKE_FIXTURES:-/var/cache/bake-fixtures}
SDBOOT=${BAKE_SYSTEMD_BOOT:-/usr/lib/systemd/boot/efi/systemd-bootx64.efi}

guest=${BAKE_QEMU_FIXTURE:-$("$(dirname "$0")/qemu-fixture.sh")}
key=$( (cat "$0"; echo "$guest") | sha256sum | cut -c1-16)
out="$FIXTURES/qemu-uefi-$key"
if [ -f "$out/ready" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$FIXTURES"
exec 9>"$FIXTURES/qemu-uefi-$key.lock"
flock 9
if [ -f "$out/ready" ]; then
	echo "$out"
	exit 0
fi
[ -f "$SDBOOT" ] || {
	echo "qemu-uefi-fixture: $SDBOOT is missing (scripts/setup.sh installs systemd-boot-efi)" >&2
	exit 1
}
for cmd in qemu-img sfdisk mkfs.vfat mcopy mmd; do
	command -v "$cmd" >/dev/null 2>&1 || {
		echo "qemu-uefi-fixture: $cmd is missing (scripts/setup.sh installs it)" >&2
		exit 1
	}
done

tmp=$(mktemp -d /var/tmp/bake-qemu-uefi-fixture.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

mib=1048576
qemu-img convert -O raw "$guest/disk.qcow2" "$tmp/root.raw"
root_bytes=$(stat -c %s "$tmp/root.raw")
root_mib=$(( (root_bytes + mib - 1) / mib ))
kernel_mib=$(( ($(stat -c %s "$guest/vmlinuz") + $(stat -c %s "$guest/initrd.img")) / mib ))
esp_mib=$(( kernel_mib + 32 ))

# The ESP: FAT in an image file, filled without mounting.
mkfs.vfat -C -n BAKEESP "$tmp/esp.img" $((esp_mib * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$tmp/esp.img" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$tmp/esp.img" "$SDBOOT" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$tmp/esp.img" "$guest/vmlinuz" ::/vmlinuz
mcopy -i "$tmp/esp.img" "$guest/initrd.img" ::/initrd.img
printf 'default bake.conf\ntimeout 0\n' >"$tmp/loader.conf"
printf 'title bake test guest\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=LABEL=bakeroot rw console=ttyS0\n' >"$tmp/bake.conf"
mcopy -i "$tmp/esp.img" "$tmp/loader.conf" ::/loader/loader.conf
mcopy -i "$tmp/esp.img" "$tmp/bake.conf" ::/loader/entries/bake.conf

# The GPT disk: 1 MiB for the table, the ESP, the root, 1 MiB for the
# backup table.
total_mib=$((1 + esp_mib + root_mib + 1))
truncate -s $((total_mib * mib)) "$tmp/disk.raw"
sfdisk --quiet --no-reread --no-tell-kernel "$tmp/disk.raw" <<EOF
label: gpt
start=$((1 * 2048)), size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"
start=$(((1 + esp_mib) * 2048)), size=$((root_mib * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="bakeroot"
EOF
dd if="$tmp/esp.img" of="$tmp/disk.raw" bs=$mib seek=1 conv=notrunc,sparse status=none
dd if="$tmp/root.raw" of="$tmp/disk.raw" bs=$mib seek=$((1 + esp_mib)) conv=notrunc,sparse status=none
qemu-img convert -O qcow2 "$tmp/disk.raw" "$tmp/disk.qcow2"

rm -rf "$out" "$out.tmp"
mkdir -p "$out.tmp"
mv "$tmp/disk.qcow2" "$out.tmp/"
touch "$out.tmp/ready"
mv "$out.tmp" "$out"
echo "qemu-uefi-fixture: ready: $out" >&2
echo "$out"
