#!/usr/bin/env bash
# Builds (once) the Debian 13 root every sandbox host boots from.
# Usage: build-image.sh <image-dir>   — prints the image root on success.
# The image is keyed by the hash of this script and the package list, so it is rebuilt only
# when one of them changes. A partial build never becomes the image: it is built in
# <dir>.tmp and renamed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=${1:?usage: build-image.sh <image-base-dir>}
key=$(cat "$here/build-image.sh" "$here/image-packages.txt" "$here/image-sandbox-packages.txt" | sha256sum | cut -c1-16)
dest="$base/debian13-$key"
if [ -f "$dest/.complete" ]; then echo "$dest"; exit 0; fi

mirror=${PGHA_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # Use the archive the machine's apt already uses (the only one reachable in CI).
  mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null \
    | grep -E 'debian(/)?( |$)' | grep -v security | head -1 | awk '{print ($1=="deb") ? ($2 ~ /^\[/ ? $3 : $2) : $2}' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
fi
tmp="$dest.tmp"
cleanup() { for m in dev/shm dev/pts dev proc sys; do mountpoint -q "$tmp/$m" 2>/dev/null && umount -l "$tmp/$m"; done; return 0; }
trap cleanup EXIT
cleanup
rm -rf "$tmp"; mkdir -p "$tmp"
echo "[image] debootstrap trixie from $mirror" >&2
debootstrap --variant=minbase trixie "$tmp" "$mirror" >&2
printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"; chmod 755 "$tmp/usr/sbin/policy-rc.d"
mount -t proc proc "$tmp/proc"; mount --bind /dev "$tmp/dev"
# No "main" cluster at package install (EC2's user-data writes the same file before its packages):
# Patroni makes its own, and pg_dropcluster at first boot cost 14 s of a cluster's boot.
mkdir -p "$tmp/etc/postgresql-common/createcluster.d"
echo "create_main_cluster = false" > "$tmp/etc/postgresql-common/createcluster.d/pgha.conf"
# The node packages (what EC2 installs at first boot), plus what the sandbox runs in place of AWS.
# Every package, whatever role it is for (`name @role` in image-packages.txt).
pkgs=$(cat "$here/image-packages.txt" "$here/image-sandbox-packages.txt" | sed -e 's/#.*//' -e 's/@[a-z-]*//g' | tr -s ' \n' '  ')
echo "[image] apt-get install $pkgs" >&2
chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
# shellcheck disable=SC2086
chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >&2
chroot "$tmp" apt-get clean
cleanup
rm -f "$tmp/usr/sbin/policy-rc.d"
# Nothing is enabled by packages: each host's cloud-init decides what runs, as on EC2.
# Nothing of ours starts before pgha-setup configured it (the exporters would listen on every
# address without TLS with Debian's defaults; journal-remote's socket too, and journal-upload
# would send to no one).
for unit in etcd patroni haproxy postgresql pgbackrest prometheus-node-exporter prometheus-postgres-exporter prometheus prometheus-alertmanager systemd-journal-upload systemd-journal-remote.socket systemd-journal-remote; do
  chroot "$tmp" systemctl disable "$unit" >/dev/null 2>&1 || true
  chroot "$tmp" systemctl mask "$unit" >/dev/null 2>&1 || true
done
chroot "$tmp" systemctl unmask etcd patroni haproxy prometheus-node-exporter prometheus-postgres-exporter prometheus prometheus-alertmanager systemd-journal-upload systemd-journal-remote.socket systemd-journal-remote >/dev/null 2>&1 || true
# A machine-id is written at first boot; hostname comes from cloud-init.
: > "$tmp/etc/machine-id"; rm -f "$tmp/etc/hostname"
# dbus's postinst wrote its own machine-id, and systemd copies /var/lib/dbus/machine-id into an
# empty /etc/machine-id: every host would share one id. Point it at /etc/machine-id instead,
# as cloud images do, so each host gets its own at first boot.
rm -f "$tmp/var/lib/dbus/machine-id"; ln -s /etc/machine-id "$tmp/var/lib/dbus/machine-id"
dpkg-query --admindir="$tmp/var/lib/dpkg" -W -f '${Package} ${Version}\n' > "$tmp/.packages"
touch "$tmp/.complete"
mv "$tmp" "$dest"
echo "$dest"
