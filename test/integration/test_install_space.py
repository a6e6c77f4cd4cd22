"""Issue 21: an installed workspace works, not only the devel space. The built workspace
is installed with DESTDIR into this test's directory (catkin's install space, moved:
install/setup.bash finds itself), then only install/setup.bash is sourced -- no devel
space, no source tree on any path -- and a scenario node is traced through
`roslaunch rostrace monitor.launch` from there."""
import os
import subprocess

from harness import REPO, free_port, wait_for
from monitoring import echo, echoed, write_config

BUILD = os.path.join(REPO, 'ws', 'build')
KEPT = ('ROS_MASTER_URI', 'ROS_HOME', 'ROS_LOG_DIR', 'PYTHONUNBUFFERED')


def install_env(ros, destdir):
    subprocess.run(['make', '-C', BUILD, 'install', f'DESTDIR={destdir}'], check=True,
                   capture_output=True, timeout=600)
    found = [os.path.join(root, 'setup.bash') for root, _, files in os.walk(destdir)
             if 'setup.bash' in files and root.endswith(os.path.join('ws', 'install'))]
    assert len(found) == 1, found
    clean = {'HOME': os.environ.get('HOME', '/root'), 'PATH': '/usr/bin:/bin:/usr/sbin:/sbin'}
    out = subprocess.run(['bash', '-c', f'. {found[0]} && env -0'], env=clean, check=True,
                         capture_output=True, timeout=60).stdout
    env = dict(item.split('=', 1) for item in out.decode().split('\0') if '=' in item)
    env.update({k: ros.env[k] for k in KEPT if k in ros.env})
    return env, os.path.dirname(found[0])


def test_the_install_space_runs_doctor_and_the_monitor_launch(ros, tmp_path):
    env, install = install_env(ros, str(tmp_path / 'destdir'))
    on_paths = {k: v for k, v in env.items() if k not in KEPT + ('PWD', 'OLDPWD', '_')
                and any(part.startswith(REPO) for part in v.split(':'))}
    assert not on_paths, f'the source tree or devel space is on a path: {on_paths}'

    def run(*argv):
        return subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=180)
    found = run('rospack', 'find', 'rostrace')
    assert found.stdout.strip() == os.path.join(install, 'share', 'rostrace'), found
    launch = run('roslaunch', '--files', 'rostrace', 'monitor.launch')
    assert launch.stdout.strip() == os.path.join(install, 'share', 'rostrace', 'launch',
                                                 'monitor.launch'), launch
    doctor = run('rosrun', 'rostrace', 'rostrace', 'doctor')
    assert doctor.returncode == 0 and 'tracing will work' in doctor.stdout, doctor
    module = run('/usr/bin/python3', '-c', 'import rostrace.probes.program as p; print(p.__file__)')
    assert module.stdout.startswith(install), module

    ros.spawn(['rosrun', 'rostrace', 'processing', '__name:=installed_sub',
               '_topic:=/installed/data'], 'installed_sub', env=env)
    ros.wait_node('/installed_sub')
    config = write_config(tmp_path / 'installed.yaml', 'publish_rate: 2\n'
                          'targets:\n  - node: /installed_sub\n')
    latency = echo(ros, '/rostrace/latency', 'echo_installed')
    ros.spawn(['roslaunch', '--wait', 'rostrace', 'monitor.launch', f'config:={config}',
               f'metrics_port:={free_port()}'], 'installed_monitor', env=env)
    ros.spawn(['rosrun', 'rostrace', 'publisher', '__name:=installed_pub',
               '_topic:=/installed/data', '_rate:=50', '_count:=100000',
               '_wait_subscribers:=1'], 'installed_pub', env=env)
    got = wait_for(lambda: [m for m in echoed(latency) if m['node'] == '/installed_sub'
                            and m['processed'] > 0], timeout=90, interval=0.5,
                   what='a LatencyBreakdown from the installed monitor')
    assert got[-1]['topic'] == '/installed/data'
    assert got[-1]['processing']['count'] == got[-1]['processed']
