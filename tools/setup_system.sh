#!/usr/bin/env bash
# System setup shared by `make demo`, `make test` and `make bench`: Debian packages,
# kernel headers that BCC can compile against, tracefs/debugfs. Idempotent: a second
# run installs nothing. Prints what it did; fails with one clear line when it cannot.
set -euo pipefail

say()  { echo "setup: $*"; }
fail() { echo "setup: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (apt-get, kernel headers, tracefs); run: sudo make ${MAKE_GOAL:-test}"
command -v apt-get >/dev/null && command -v dpkg-query >/dev/null \
  || fail "needs a Debian-based system (apt-get and dpkg-query not found)"

# What rostrace needs (shared with demo/Dockerfile), and what its tests and benchmarks
# add (a Prometheus server, libfaketime, pytest, tf2_ros's buffer_server).
mapfile -t PACKAGES < <(grep -v '^#' "$(dirname "$0")/packages.txt" | tr ' ' '\n' | grep .)
PACKAGES+=(prometheus libfaketime python3-pytest tf2-tools)
# test_rosdep: rosdep itself, and what Debian's rosdep data maps catkin and nodelet to.
PACKAGES+=(python3-rosdep2 libgtest-dev libgmock-dev python3-nodelet)

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

apt_updated=0
apt_update() {
  [ "$apt_updated" -eq 1 ] && return 0
  apt-get update -qq >/tmp/rostrace-apt-update.log 2>&1 \
    || fail "cannot reach the package archive (apt-get update failed, see /tmp/rostrace-apt-update.log)"
  apt_updated=1
}

apt_install() {
  apt_update
  say "installing: $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >/tmp/rostrace-apt-install.log 2>&1 \
    || fail "apt-get install $* failed (see /tmp/rostrace-apt-install.log)"
}

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; else say "Debian packages present"; fi

# --- kernel headers for BCC ---------------------------------------------------------
kver=$(uname -r)
moddir=/lib/modules/$kver
if [ -e "$moddir/build/Makefile" ]; then
  say "kernel headers present at $moddir/build"
else
  arch=$(dpkg --print-architecture)
  apt_update
  if apt-cache show "linux-headers-$kver" >/dev/null 2>&1; then
    installed "linux-headers-$kver" || apt_install "linux-headers-$kver"
  else
    installed "linux-headers-$arch" || apt_install "linux-headers-$arch"
    # The meta package depends on exactly one versioned tree: linux-headers-X-$arch,
    # which itself depends on linux-headers-X-common.
    flavour=$(dpkg-query -W -f='${Depends}' "linux-headers-$arch" | tr ',' '\n' \
              | sed -n 's/^ *\(linux-headers-[^ ]*\).*/\1/p' | head -n1)
    build=/usr/src/$flavour
    common=$(ls -d "${build%-$arch}-common" 2>/dev/null || true)
    [ -d "$build" ] && [ -n "$common" ] || fail "cannot locate headers installed by linux-headers-$arch"
    mkdir -p "$moddir"
    ln -sfn "$build" "$moddir/build"
    ln -sfn "$common" "$moddir/source"
    say "no headers package for kernel $kver: using ${flavour#linux-headers-} headers as $moddir/build (BCC compiles against them)"
  fi
fi

# --- tracefs / debugfs ---------------------------------------------------------------
mounted() { awk -v m="$1" '$2 == m {found=1} END {exit !found}' /proc/mounts; }
if ! mounted /sys/kernel/tracing; then
  mount -t tracefs tracefs /sys/kernel/tracing || fail "cannot mount tracefs at /sys/kernel/tracing"
  say "mounted tracefs at /sys/kernel/tracing"
fi
if ! mounted /sys/kernel/debug; then
  mount -t debugfs debugfs /sys/kernel/debug || fail "cannot mount debugfs at /sys/kernel/debug"
  say "mounted debugfs at /sys/kernel/debug"
fi
[ -e /sys/kernel/tracing/uprobe_events ] \
  || fail "kernel has no uprobe support (CONFIG_UPROBE_EVENTS): rostrace cannot trace here"
say "system ready"
