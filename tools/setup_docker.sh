#!/usr/bin/env bash
# What the Docker demo and its test need on a Debian host: Debian's Docker engine and
# compose, and debootstrap (the base image where no registry answers). Idempotent.
set -euo pipefail
say()  { echo "setup-docker: $*"; }
fail() { echo "setup-docker: error: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root; run: sudo make ${MAKE_GOAL:-docker-test}"
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
missing=()
command -v dockerd >/dev/null || installed docker.io || missing+=(docker.io)
{ docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; } \
  || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  apt-get update -qq >/tmp/rostrace-apt-update.log 2>&1 \
    || fail "apt-get update failed (see /tmp/rostrace-apt-update.log)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/tmp/rostrace-apt-install.log 2>&1 \
    || fail "apt-get install ${missing[*]} failed (see /tmp/rostrace-apt-install.log)"
else
  say "Docker, compose and debootstrap present"
fi
