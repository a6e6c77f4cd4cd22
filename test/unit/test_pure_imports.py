"""Guards of the layout: the pure folders (model/, views/) touch nothing outside the
process, and every module but the rospy message code imports without bcc or rospy."""
import ast
import os
import subprocess
import sys

SRC = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..', 'src', 'rostrace'))
PURE_FOLDERS = ('model', 'views')
# What pure code may import: the standard library's data tools, YAML parsing, the
# generated kernel contract, and each other.
PURE_ALLOWED = {'collections', 'ipaddress', 'dataclasses', 'typing', 'fnmatch', 'struct', 'yaml', 'math',
                're', 'reprlib', 'statistics',
                'rostrace.errors', 'rostrace.probes.abi'}
NEEDS_ROSPY = {'rostrace.output.messages'}     # the only rospy message code


def modules(folder=''):
    """Module names under src/rostrace/<folder>, from the files there."""
    out = []
    for root, _, files in os.walk(os.path.normpath(os.path.join(SRC, folder))):
        package = 'rostrace' + root[len(SRC):].replace(os.sep, '.')
        out += [package if f == '__init__.py' else f'{package}.{f[:-3]}'
                for f in sorted(files) if f.endswith('.py')]
    return sorted(out)


def imported_names(module):
    path = os.path.join(SRC, *module.split('.')[1:])
    path = os.path.join(path, '__init__.py') if os.path.isdir(path) else path + '.py'
    package = module if path.endswith('__init__.py') else module.rsplit('.', 1)[0]
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split('.')
            base = base[:len(base) - node.level + 1] if node.level else []
            module_name = '.'.join(base + ([node.module] if node.module else []))
            yield from (f'{module_name}.{alias.name}' for alias in node.names)


def test_pure_folders_import_nothing_that_reaches_outside_the_process():
    pure = [m for folder in PURE_FOLDERS for m in modules(folder)]
    assert len(pure) >= 10, pure
    bad = {}
    for module in pure:
        for name in imported_names(module):
            allowed = PURE_ALLOWED | {f'rostrace.{f}' for f in PURE_FOLDERS}
            ok = any(name == a or name.startswith(a + '.') for a in allowed)
            if not ok:
                bad.setdefault(module, []).append(name)
    assert not bad, f'pure modules import beyond their folder: {bad}'


def test_modules_import_without_bcc_or_rospy():
    wanted = [m for m in modules() if m not in NEEDS_ROSPY]
    code = ('import sys\n'
            'class Block:\n'
            '    def find_spec(self, name, path=None, target=None):\n'
            '        if name.split(".")[0] in ("bcc", "rospy"):\n'
            '            raise ImportError("blocked " + name)\n'
            'sys.meta_path.insert(0, Block())\n'
            + ''.join(f'import {m}\n' for m in wanted))
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       env={'PYTHONPATH': ':'.join(sys.path)})
    assert r.returncode == 0, r.stderr
