#!/bin/bash
# Run by PID 1 of the bullseye VM (tools/vm/bullseye.sh: its stub mounted /proc, /sys,
# /dev and this repository's share at /mnt/repo): mount the rest a system has, clone the
# repository from the read-only share, do what a user does (`make build`), run the
# tests named in tests.txt, leave everything in the results share, power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin; ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
hostname rostrace-vm
ip link set lo up
eth=$(ls /sys/class/net | grep -v '^lo$' | head -n1)
if [ -n "$eth" ]; then            # QEMU's user network: apt works if something is missing
  ip link set "$eth" up
  ip addr add 10.0.2.15/24 dev "$eth"
  ip route add default via 10.0.2.2
  echo 'nameserver 10.0.2.3' >/etc/resolv.conf
fi
mkdir -p /mnt/results
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /mnt/results
out=/mnt/results
finish() { echo "$1" >"$out/status"; sync; echo o >/proc/sysrq-trigger; sleep 10; }
{
  echo "kernel: $(uname -r)"
  dpkg-query -W -f='${Package} ${Version}\n' python3-bpfcc libbpfcc libroscpp-dev \
    python3-rospy python3 python3-pytest linux-headers-amd64
} >"$out/versions.txt" 2>&1
git config --global --add safe.directory '*'
git clone -q /mnt/repo /root/rostrace >"$out/clone.log" 2>&1 || finish 90
cd /root/rostrace || finish 90
git log -1 --format='rostrace %H %cd' >>"$out/versions.txt"
make build >"$out/build.log" 2>&1 || { cp ws/build.log "$out/catkin.log" 2>/dev/null; finish 91; }
# shellcheck disable=SC2046
ROSTRACE_TEST_SLOWDOWN=$(cat "$out/slowdown.txt" 2>/dev/null || echo 1) \
  bash -c ". ws/devel/setup.bash && /usr/bin/python3 -m pytest -ra $(cat "$out/tests.txt")" \
  >"$out/pytest.log" 2>&1
finish $?
