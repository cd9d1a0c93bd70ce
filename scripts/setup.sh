#!/bin/sh
# setup.sh prepares a Debian machine for bake and its tests: installs the
# packages, starts the Docker engine and a registry on loopback when none
# runs, and makes the local base image the examples and tests build from.
# It is idempotent; run it as root. Generated fixtures are cached outside
# the repository in $BAKE_FIXTURES (default /var/cache/bake-fixtures),
# keyed on their recipe.
set -eu

FIXTURES=${BAKE_FIXTURES:-/var/cache/bake-fixtures}
REGISTRY_ADDR=${BAKE_TEST_REGISTRY:-127.0.0.1:5000}
BASE_IMAGE=${BAKE_BASE_IMAGE:-bake.local/debian:bookworm}
ANSIBLE_IMAGE=${BAKE_ANSIBLE_IMAGE:-bake.local/debian-ansible:bookworm}
PACKAGES="ansible-core curl docker.io docker-registry openssh-server openssh-client qemu-system-x86 qemu-utils debootstrap e2fsprogs xorriso isolinux syslinux-common cpio jq openssl ca-certificates hyperfine ovmf swtpm swtpm-tools systemd-boot-efi dosfstools mtools fdisk postgresql chromium"

log() { echo "setup: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	echo "setup: run as root (it installs packages and starts dockerd)" >&2
	exit 2
fi

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	log "installing$missing"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi

# The Docker engine.
if ! docker info >/dev/null 2>&1; then
	log "starting dockerd"
	mkdir -p /var/log
	nohup dockerd >/var/log/bake-dockerd.log 2>&1 &
	i=0
	until docker info >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 60 ]; then
			echo "setup: dockerd did not start; see /var/log/bake-dockerd.log" >&2
			tail -20 /var/log/bake-dockerd.log >&2 || true
			exit 1
		fi
		sleep 0.5
	done
fi

# A registry on loopback (Debian's docker-registry, distribution 2.8).
if ! curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
	log "starting a registry on $REGISTRY_ADDR"
	mkdir -p "$FIXTURES/registry"
	cat >"$FIXTURES/registry/config.yml" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $FIXTURES/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
CFG
	nohup docker-registry serve "$FIXTURES/registry/config.yml" >/var/log/bake-registry.log 2>&1 &
	i=0
	until curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 40 ]; then
			echo "setup: the registry did not start; see /var/log/bake-registry.log" >&2
			exit 1
		fi
		sleep 0.25
	done
fi

# The base image: a minimal Debian made locally (nothing can be pulled).
recipe="debootstrap --variant=minbase --include=ca-certificates bookworm v1"
key=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
tarball="$FIXTURES/rootfs-$key.tar"
if [ ! -s "$tarball" ]; then
	log "debootstrapping a minimal Debian (about 30 s, cached in $tarball)"
	tmp=$(mktemp -d)
	debootstrap --variant=minbase --include=ca-certificates bookworm "$tmp/rootfs" http://deb.debian.org/debian >/dev/null
	rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
	mkdir -p "$FIXTURES"
	tar -C "$tmp/rootfs" -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf "$tmp"
fi
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
	log "importing $tarball as $BASE_IMAGE"
	docker import -c 'CMD ["/bin/bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
fi
# A second image for the ansible provisioners' tests: the base recipe plus
# python3 (Ansible's modules), sudo (become) and ansible-core
# (ansible-local), cached under its own recipe key. debootstrap does not
# resolve virtual packages, so python3-cffi-backend (python3-cryptography
# needs it through one) is named.
recipe="debootstrap --variant=minbase --include=ca-certificates,python3,python3-cffi-backend,sudo,ansible-core bookworm v1"
key=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
tarball="$FIXTURES/rootfs-$key.tar"
if [ ! -s "$tarball" ]; then
	log "debootstrapping Debian with python3 and ansible-core (about 60 s, cached in $tarball)"
	tmp=$(mktemp -d)
	debootstrap --variant=minbase --include=ca-certificates,python3,python3-cffi-backend,sudo,ansible-core bookworm "$tmp/rootfs" http://deb.debian.org/debian >/dev/null
	rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
	mkdir -p "$FIXTURES"
	tar -C "$tmp/rootfs" -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf "$tmp"
fi
if ! docker image inspect "$ANSIBLE_IMAGE" >/dev/null 2>&1; then
	log "importing $tarball as $ANSIBLE_IMAGE"
	docker import -c 'CMD ["/bin/bash"]' "$tarball" "$ANSIBLE_IMAGE" >/dev/null
fi
log "ready: docker $(docker version --format '{{.Server.Version}}'), registry $REGISTRY_ADDR, base image $BASE_IMAGE"
"$(dirname "$0")/qemu-fixture.sh" >/dev/null # the qemu builder tests' guest, cached
# The same guest with python3, sudo and ansible-core, for the ansible provisioners' qemu tests.
BAKE_QEMU_FIXTURE_VARIANT=ansible "$(dirname "$0")/qemu-fixture.sh" >/dev/null
"$(dirname "$0")/qemu-iso-fixture.sh" >/dev/null # its kernel behind an ISOLINUX prompt, for boot_command
"$(dirname "$0")/qemu-uefi-fixture.sh" >/dev/null # the guest on a GPT disk with an ESP, for efi_boot
