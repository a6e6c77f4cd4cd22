#!/usr/bin/env bash
# Build the catkin workspace ws/ with Debian's /usr/bin/python3: another python3 may
# come first on PATH without rospy or bcc. ws/src/rostrace holds one symlink per
# package item (not one link to the repository, which would put ws/ inside itself
# and send rosrun's `find -L` round a loop).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
ws=$repo/ws
pkg=$ws/src/rostrace
[ -L "$pkg" ] && rm -f "$pkg"
mkdir -p "$pkg"
for item in CMakeLists.txt setup.py src scripts msg srv launch config; do
  ln -sfn "../../../$item" "$pkg/$item"
done
# package.xml is copied: catkin installs it as it finds it, and a symlink would point
# nowhere in an install space (copied only when it changed: it is a configure input).
[ -L "$pkg/package.xml" ] && rm -f "$pkg/package.xml"
cmp -s "$repo/package.xml" "$pkg/package.xml" || cp "$repo/package.xml" "$pkg/package.xml"
cd "$ws"
log=$ws/build.log
build() {
  catkin_make -DPYTHON_EXECUTABLE=/usr/bin/python3 -DCATKIN_ENABLE_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$log" 2>&1
}
# gcc has been seen to crash here ("internal compiler error: Segmentation fault") on a
# VM and build fine the next time: that one failure is tried once more.
if ! build && ! { grep -q 'internal compiler error' "$log" && echo "build: gcc crashed, building again" >&2 && build; }; then
  tail -n 40 "$log" >&2
  echo "build: error: catkin_make failed (full log: $log)" >&2
  exit 1
fi
echo "build: ok (source $ws/devel/setup.bash)"
