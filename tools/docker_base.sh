#!/usr/bin/env bash
# The base image demo/Dockerfile starts FROM (debian:bookworm): pulled where a registry
# is reachable, else built from Debian's archive (debootstrap, docker import) and
# tagged so that the Dockerfile builds unchanged. Idempotent.
set -euo pipefail
say()  { echo "docker-base: $*"; }
fail() { echo "docker-base: error: $*" >&2; exit 1; }
tag=debian:bookworm
if docker image inspect "$tag" >/dev/null 2>&1; then
  say "$tag present"; exit 0
fi
if timeout 60 docker pull -q "$tag" >/dev/null 2>&1; then
  say "pulled $tag"; exit 0
fi
say "no registry: building $tag from the Debian archive (debootstrap, a few minutes)"
command -v debootstrap >/dev/null || fail "debootstrap missing (make docker-setup)"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/rostrace-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >/tmp/rostrace-debootstrap.log 2>&1 \
  || fail "debootstrap failed (see /tmp/rostrace-debootstrap.log)"
# What the official image carries that minbase lacks: the security and updates suites.
cat >"$root/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$tag" >/dev/null
say "built $tag from $mirror"
