"""Guard: the pure modules import with bcc and rospy unavailable."""
import subprocess
import sys

PURE = ['rostrace.errors', 'rostrace.procfs', 'rostrace.histogram', 'rostrace.breakdown',
        'rostrace.symbols', 'rostrace.topics', 'rostrace.targets', 'rostrace.cli.main',
        'rostrace.config', 'rostrace.diagnostics', 'rostrace.render', 'rostrace.preflight',
        'rostrace.node', 'rostrace.engine', 'rostrace.transport']


def test_pure_modules_import_without_bcc_or_rospy():
    code = ('import sys\n'
            'class Block:\n'
            '    def find_spec(self, name, path=None, target=None):\n'
            '        if name.split(".")[0] in ("bcc", "rospy"):\n'
            '            raise ImportError("blocked " + name)\n'
            'sys.meta_path.insert(0, Block())\n'
            + ''.join(f'import {m}\n' for m in PURE))
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       env={'PYTHONPATH': ':'.join(sys.path)})
    assert r.returncode == 0, r.stderr
