#!/usr/bin/env bash
# `make vm-test`: rostrace on an older system -- Debian 11 (bullseye: kernel 5.10, the
# Jetson JetPack 5 line; BCC 0.18; ros_comm 1.15.9) in a KVM virtual machine.
#
# The image is built once from the Debian archive (debootstrap, then apt-get in a
# chroot: the packages rostrace's own tools/packages.txt names, the kernel and its
# headers) and cached in $ROSTRACE_VM_CACHE (default /var/cache/rostrace-vm); it is
# rebuilt when that package list changes. Each run boots it with -snapshot (the image is
# never written), clones this repository inside from a read-only 9p share, and there does
# what a user does -- `make build` (tools/setup_system.sh: packages, headers, tracefs;
# then catkin) -- and runs the accuracy suites. The results (versions found, pytest's
# report) come back through a second share into $ROSTRACE_VM_RESULTS (default
# bench/results/vm_bullseye/) and the exit status is pytest's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${ROSTRACE_VM_CACHE:-/var/cache/rostrace-vm}
results=${ROSTRACE_VM_RESULTS:-$repo/bench/results/vm_bullseye}
mirror=${ROSTRACE_VM_MIRROR:-http://deb.debian.org/debian}
tests=${ROSTRACE_VM_TESTS:-test/unit test/integration/test_engine_accuracy.py test/integration/test_counts.py}
timeout_s=${ROSTRACE_VM_TIMEOUT:-7200}
rootfs=$cache/rootfs
image=$cache/bullseye.ext4

say()  { echo "vm: $*"; }
fail() { echo "vm: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, /dev/kvm); run: sudo make vm-test"
# KVM where it runs stock kernels. This machine's /dev/kvm is PVM (the kvm_pvm module:
# guests must be PVM kernels; Debian's 5.10 stalls in early boot there, "INTERNAL_ERROR in
# batch emul"), so the VM is emulated (TCG, one thread per CPU): slower, same kernel.
if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && [ "${ROSTRACE_VM_ACCEL:-}" != tcg ]; then
  accel=(-enable-kvm -cpu host)
else
  accel=(-accel tcg,thread=multi -cpu max)
fi
# The tests' deadlines (not their bounds) stretched by this factor inside the VM
# (test/harness.py): emulated, roscore alone takes more than the 20 s it gets here.
if [ "${accel[0]}" = -enable-kvm ]; then slowdown=${ROSTRACE_VM_SLOWDOWN:-1}
else slowdown=${ROSTRACE_VM_SLOWDOWN:-10}; fi
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    >/tmp/rostrace-vm-apt.log 2>&1 || fail "apt-get install ${need[*]} failed (/tmp/rostrace-vm-apt.log)"
fi

# What goes into the image: rostrace's packages, its test extras, the kernel, and what the
# VM's own start needs. A change of this list (its hash) rebuilds the image.
mapfile -t packages < <(grep -v '^#' "$repo/tools/packages.txt" | tr ' ' '\n' | grep .)
packages+=(python3-pytest python3-rosdep2 libgtest-dev libgmock-dev python3-nodelet prometheus
           libfaketime linux-image-amd64 linux-headers-amd64 initramfs-tools git ca-certificates
           kmod iproute2 procps psmisc)
want=$(printf '%s\n' "${packages[@]}" bullseye | sha256sum | cut -c1-16)

# PID 1 in the image: mounts the repository's share and runs its tools/vm/init.sh (so a
# change there needs no new image).
stub='#!/bin/bash
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
modprobe 9pnet_virtio; modprobe 9p; mkdir -p /mnt/repo
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 repo /mnt/repo
exec /bin/bash /mnt/repo/tools/vm/init.sh'

build_rootfs() {
  say "building the bullseye system in $cache (debootstrap from $mirror; ~1.5 GB, once)"
  rm -rf "$rootfs" "$image"
  mkdir -p "$cache"
  debootstrap --variant=minbase bullseye "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || fail "debootstrap failed (see $cache/debootstrap.log)"
  echo "deb $mirror bullseye main" >"$rootfs/etc/apt/sources.list"
  mount -t proc proc "$rootfs/proc"
  mount --bind /dev "$rootfs/dev"
  mount --bind /sys "$rootfs/sys"
  trap 'umount "$rootfs/proc" "$rootfs/dev" "$rootfs/sys" 2>/dev/null || true' EXIT
  chroot "$rootfs" apt-get update -qq >"$cache/apt.log" 2>&1 || fail "apt-get update in the image failed"
  DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >>"$cache/apt.log" 2>&1 || fail "apt-get install in the image failed (see $cache/apt.log)"
  chroot "$rootfs" apt-get clean
  umount "$rootfs/proc" "$rootfs/dev" "$rootfs/sys"
  trap - EXIT
  echo rostrace-vm >"$rootfs/etc/hostname"
  printf '127.0.0.1 localhost rostrace-vm\n::1 localhost\n' >"$rootfs/etc/hosts"
  printf '/dev/vda / ext4 defaults 0 1\n' >"$rootfs/etc/fstab"
  echo "$want" >"$cache/packages.hash"
}

build_image() {
  say "writing the disk image"
  mkdir -p "$rootfs/opt/rostrace-vm"
  printf '%s\n' "$stub" >"$rootfs/opt/rostrace-vm/init"
  chmod 755 "$rootfs/opt/rostrace-vm/init"
  rm -f "$image"
  truncate -s 12G "$image"
  mkfs.ext4 -q -F -L rostrace-vm -d "$rootfs" "$image" || fail "mkfs.ext4 -d failed"
  printf '%s' "$want$stub" | sha256sum >"$cache/image.hash"
}

if [ ! -d "$rootfs/boot" ] || [ "$(cat "$cache/packages.hash" 2>/dev/null)" != "$want" ]; then
  build_rootfs
fi
if [ ! -f "$image" ] || [ "$(printf '%s' "$want$stub" | sha256sum)" != "$(cat "$cache/image.hash" 2>/dev/null)" ]; then
  build_image
else
  say "image cached in $cache"
fi
kernel=$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(ls "$rootfs"/boot/initrd.img-* | sort -V | tail -n1)

mkdir -p "$results"
rm -f "$results"/*
printf '%s\n' "$tests" >"$results/tests.txt"
printf '%s\n' "$slowdown" >"$results/slowdown.txt"
say "booting $(basename "$kernel") (${accel[0]#-} ${accel[1]}, 2 CPUs, 4 GiB); results in $results"
set +e
timeout "$timeout_s" qemu-system-x86_64 "${accel[@]}" -smp 2 -m 4096 -nodefaults -vga none \
  -display none -serial stdio -no-reboot -snapshot -kernel "$kernel" -initrd "$initrd" \
  -append "root=/dev/vda rw console=ttyS0 init=/opt/rostrace-vm/init" \
  -drive "file=$image,format=raw,if=virtio" \
  -virtfs "local,path=$repo,mount_tag=repo,security_model=none,readonly=on" \
  -virtfs "local,path=$results,mount_tag=results,security_model=none" \
  -nic user,model=virtio-net-pci >"$results/console.log" 2>&1
qemu=$?
set -e
[ $qemu -eq 124 ] && fail "the VM did not finish within ${timeout_s}s (see $results/console.log)"
[ -f "$results/status" ] || fail "the VM ended without a result (qemu exit $qemu; see $results/console.log)"
cat "$results/versions.txt" 2>/dev/null || true
tail -n 5 "$results/pytest.log" 2>/dev/null || true
status=$(cat "$results/status")
say "in the VM: exit $status"
exit "$status"
