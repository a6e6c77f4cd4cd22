"""Issue 21: `rosdep check` resolves every key of rostrace's package.xml with the shipped
rosdep/rostrace.yaml, and does not without it (python3-bpfcc and python3-pyelftools are
not in rosdep's data).

Run offline, as on a Debian machine without network access: rosdep's sources are
Debian's own data (python3-rosdep2's debian.yaml, which maps ROS package names to
Debian's ROS packages) plus ours, and the rosdistro index is a local one with an empty
noetic (rosdep update fetches an index; rosdistro's own is on the network)."""
import os
import shutil
import subprocess

from harness import REPO

DEBIAN_DATA = '/usr/share/python3-rosdep2/debian.yaml'
INDEX = '''%YAML 1.1
---
distributions:
  noetic:
    distribution: [noetic/distribution.yaml]
    distribution_status: active
    distribution_type: ros1
    python_version: 3
type: index
version: 4
'''
DISTRIBUTION = '''%YAML 1.1
---
release_platforms:
  debian: [bookworm]
repositories: {}
type: distribution
version: 2
'''


def rosdep_env(tmp_path, with_ours):
    sources = tmp_path / 'sources.list.d'
    sources.mkdir()
    (sources / '10-debian.list').write_text(f'yaml file://{DEBIAN_DATA} debian\n')
    if with_ours:
        (sources / '30-rostrace.list').write_text(
            f'yaml file://{os.path.join(REPO, "rosdep", "rostrace.yaml")}\n')
    index = tmp_path / 'index'
    (index / 'noetic').mkdir(parents=True)
    (index / 'index-v4.yaml').write_text(INDEX)
    (index / 'noetic' / 'distribution.yaml').write_text(DISTRIBUTION)
    # Only the package: the repository also holds the workspace and its copies.
    package = tmp_path / 'src' / 'rostrace'
    package.mkdir(parents=True)
    shutil.copy(os.path.join(REPO, 'package.xml'), package)
    env = {'PATH': '/usr/bin:/bin:/usr/sbin:/sbin', 'HOME': str(tmp_path),
           'ROS_HOME': str(tmp_path / 'ros'), 'ROS_DISTRO': 'noetic',
           'ROSDEP_SOURCE_PATH': str(sources),
           'ROSDISTRO_INDEX_URL': f'file://{index}/index-v4.yaml'}
    update = subprocess.run(['rosdep', 'update'], env=env, capture_output=True, text=True,
                            timeout=120)
    assert update.returncode == 0 and 'updated cache' in update.stdout, update
    return env, str(tmp_path / 'src')


def rosdep(env, src, *argv):
    """rosdep `argv` on the package; (exit code, its output). `rosdep check` exits 0 and
    says "satisfied" even when a key has no definition (it logs an ERROR for it);
    `rosdep install --simulate` exits non-zero then."""
    r = subprocess.run(['rosdep', *argv, '--from-paths', src, '--ignore-src'], env=env,
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def test_rosdep_check_passes_with_the_shipped_yaml(tmp_path):
    env, src = rosdep_env(tmp_path, with_ours=True)
    code, out = rosdep(env, src, 'check')
    print(out)
    assert code == 0 and 'All system dependencies have been satisfied' in out, out
    assert 'ERROR' not in out and 'Cannot locate' not in out, out
    code, out = rosdep(env, src, 'install', '--simulate')
    assert code == 0 and 'ERROR' not in out, out


def resolve(env, key):
    r = subprocess.run(['rosdep', 'resolve', key], env=env, capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout.split()


def test_without_it_rosdep_cannot_resolve_bcc(tmp_path):
    env, src = rosdep_env(tmp_path, with_ours=False)
    code, out = rosdep(env, src, 'check')
    assert 'Cannot locate rosdep definition for [python3-' in out, out    # the first it met
    code, out = rosdep(env, src, 'install', '--simulate')
    assert code != 0 and 'could not have their rosdep keys resolved' in out, out
    for key in ('python3-bpfcc', 'python3-pyelftools'):
        assert resolve(env, key)[0] != 0


def test_the_yaml_resolves_bcc_and_pyelftools(tmp_path):
    env, _ = rosdep_env(tmp_path, with_ours=True)
    assert resolve(env, 'python3-bpfcc') == (0, ['#apt', 'python3-bpfcc'])
    assert resolve(env, 'python3-pyelftools') == (0, ['#apt', 'python3-pyelftools'])
