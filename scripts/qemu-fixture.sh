#!/bin/sh
# qemu-fixture.sh makes the guest the qemu builder's tests boot: a Debian
# bookworm root file system (debootstrap) with systemd, udev, dbus,
# openssh-server and the Debian kernel, written to an ext4 disk image with
# `mkfs.ext4 -d` (no mounting, no partition table) and converted to qcow2.
# The kernel and initrd are copied out beside it: tests boot the disk with
# -kernel/-initrd/-append "root=LABEL=bakeroot console=ttyS0".
#
# How a build logs in: the fixture has no password and no fixed key. It
# carries a small stand-in for cloud-init ("nocloud-lite", below) that, at
# each boot, reads a NoCloud seed (a disk labelled cidata) and installs the
# ssh_authorized_keys of its user-data "users:" entries, the subset of
# cloud-init that bake's temporary-key seed uses. Real cloud-init would read
# the same seed; it is left out because it roughly doubles the image and
# the boot time under TCG.
#
# Networking: systemd-networkd, DHCP on every en*/eth* link (qemu's
# user-mode network answers DHCP). sshd allows root login by key (Debian's
# default prohibit-password). ACPI power-button presses power the guest off
# (systemd-logind), so qemu's system_powerdown works.
#
# BAKE_QEMU_FIXTURE_VARIANT=ansible makes a variant for the ansible
# provisioners' tests: the same guest plus python3 (Ansible's modules),
# sudo (become) and ansible-core (ansible-local). debootstrap does not
# resolve virtual packages, so python3-cffi-backend (python3-cryptography
# needs it through one) is named.
#
# The result is cached in $BAKE_FIXTURES/qemu-<key>/ (default
# /var/cache/bake-fixtures; qemu-ansible-<key>/ for the variant, the key
# a hash of this file and the package list) as disk.qcow2, vmlinuz and
# initrd.img; the directory's path is printed on stdout. Run it as root;
# it is idempotent and safe to run concurrently (a lock file serialises
# the build).
set -eu

FIXTURES=${BAKE_FIXTURES:-/var/cache/bake-fixtures}
MIRROR=${BAKE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
INCLUDE=systemd-sysv,systemd,udev,dbus,kmod,iproute2,openssh-server,linux-image-amd64
VARIANT=${BAKE_QEMU_FIXTURE_VARIANT:-}
case $VARIANT in
"") name=qemu ;;
ansible)
	name=qemu-ansible
	INCLUDE=$INCLUDE,python3,python3-cffi-backend,sudo,ansible-core
	;;
*)
	echo "qemu-fixture: unknown BAKE_QEMU_FIXTURE_VARIANT $VARIANT (known: ansible)" >&2
	exit 2
	;;
esac

log() { echo "qemu-fixture: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	echo "qemu-fixture: run as root (debootstrap needs it)" >&2
	exit 2
fi

key=$( (cat "$0"; echo "$INCLUDE") | sha256sum | cut -c1-16)
out="$FIXTURES/$name-$key"
if [ -s "$out/disk.qcow2" ] && [ -f "$out/ready" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$FIXTURES"
exec 9>"$FIXTURES/$name-$key.lock"
flock 9
if [ -f "$out/ready" ]; then
	echo "$out"
	exit 0
fi

for cmd in debootstrap mkfs.ext4 qemu-img; do
	command -v "$cmd" >/dev/null 2>&1 || {
		echo "qemu-fixture: $cmd is missing (scripts/setup.sh installs it)" >&2
		exit 1
	}
done

tmp=$(mktemp -d /var/tmp/bake-qemu-fixture.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root="$tmp/rootfs"
log "debootstrapping bookworm with $INCLUDE (a few minutes, cached in $out)"
debootstrap --variant=minbase --include="$INCLUDE" bookworm "$root" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 || {
	tail -30 "$tmp/debootstrap.log" >&2
	exit 1
}

echo bake-fixture >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tbake-fixture\n' >"$root/etc/hosts"
echo 'LABEL=bakeroot / ext4 defaults 0 1' >"$root/etc/fstab"

mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/20-wired.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF

# nocloud-lite: the ssh_authorized_keys subset of cloud-init's NoCloud.
cat >"$root/usr/local/sbin/nocloud-lite" <<'EOF'
#!/bin/sh
# nocloud-lite installs the ssh_authorized_keys of the "users:" entries of
# a NoCloud seed's user-data (a disk labelled cidata or CIDATA), creating
# users that do not exist. It stands in for cloud-init in bake's test
# fixture; it understands only the shape bake writes.
set -u
udevadm settle -t 10 || true
dev=$(blkid -t LABEL=cidata -o device 2>/dev/null | head -1)
[ -n "$dev" ] || dev=$(blkid -t LABEL=CIDATA -o device 2>/dev/null | head -1)
if [ -z "$dev" ]; then
	echo "nocloud-lite: no cidata seed"
	exit 0
fi
mnt=$(mktemp -d)
mount -o ro "$dev" "$mnt" || exit 0
ud="$mnt/user-data"
[ -f "$ud" ] || ud="$mnt/USER-DATA"
if [ -f "$ud" ]; then
	awk '
	/^users:/ { inusers = 1; next }
	/^[^ #]/ { inusers = 0 }
	inusers && /^  - name:/ { sub(/^  - name:[ ]*/, ""); user = $0; inkeys = 0; next }
	inusers && /^  - / { user = ""; inkeys = 0; next }
	inusers && /^    ssh_authorized_keys:/ { inkeys = 1; next }
	inusers && inkeys && /^      - / { sub(/^      - [ ]*/, ""); gsub(/^"|"$/, ""); if (user != "") print user "\t" $0; next }
	inusers && /^    [a-z]/ { inkeys = 0 }
	' "$ud" | while IFS="$(printf '\t')" read -r user k; do
		id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
		home=$(getent passwd "$user" | cut -d: -f6)
		mkdir -p "$home/.ssh"
		touch "$home/.ssh/authorized_keys"
		grep -qxF "$k" "$home/.ssh/authorized_keys" || echo "$k" >>"$home/.ssh/authorized_keys"
		chmod 700 "$home/.ssh"
		chmod 600 "$home/.ssh/authorized_keys"
		chown -R "$user:" "$home/.ssh"
		echo "nocloud-lite: installed a key for $user"
	done
fi
umount "$mnt"
rmdir "$mnt"
EOF
chmod 755 "$root/usr/local/sbin/nocloud-lite"
cat >"$root/etc/systemd/system/nocloud-lite.service" <<'EOF'
[Unit]
Description=Install SSH keys from a NoCloud seed (bake test fixture)
After=local-fs.target systemd-udevd.service
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/nocloud-lite
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF

chroot "$root" systemctl enable systemd-networkd nocloud-lite ssh >/dev/null 2>&1
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
	chroot "$root" systemctl mask "$u" >/dev/null 2>&1 || true
done
# A serial console login is not needed; its output is what the tests read.
chroot "$root" systemctl mask serial-getty@ttyS0.service getty@tty1.service >/dev/null 2>&1 || true

cp "$root"/boot/vmlinuz-* "$tmp/vmlinuz"
cp "$root"/boot/initrd.img-* "$tmp/initrd.img"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* \
	"$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/locale" "$root/boot/"*

truncate -s 2G "$tmp/disk.raw"
mkfs.ext4 -q -L bakeroot -d "$root" "$tmp/disk.raw"
qemu-img convert -f raw -O qcow2 "$tmp/disk.raw" "$tmp/disk.qcow2"

rm -rf "$out"
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
mv "$tmp/disk.qcow2" "$tmp/vmlinuz" "$tmp/initrd.img" "$out.tmp/"
echo "$INCLUDE" >"$out.tmp/recipe"
touch "$out.tmp/ready"
mv "$out.tmp" "$out"
log "ready: $out"
echo "$out"
