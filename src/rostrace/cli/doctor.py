"""Check every prerequisite of tracing, and a node's probe points; explain each fix.

Exit status 0 only when tracing will work.
"""
import os

from ..errors import RostraceError
from ..probes.program import BpfProgram
from ..system import features, preflight
from ..system.procfs import ProcFS
from ..system.rosapi import Master
from ..system.targets import resolve_node

EPILOG = '''examples:
  rostrace doctor
  rostrace doctor --node /processing_delay_node'''


def add_arguments(p):
    p.add_argument('--node', help='also check this node: process, roscpp library, probe points')


def _check(results, name, fn):
    """Run one check; fn returns a detail string or raises RostraceError."""
    try:
        detail = fn()
        results.append((True, name, detail or 'ok', None))
        return True
    except RostraceError as e:
        results.append((False, name, str(e), e.hint))
        return False


def _tracepoints():
    missing = features.missing_tracepoints()
    if not missing:
        return 'every tracepoint rostrace uses is there'
    return 'missing: ' + '; '.join(f'{t.reason}: {t.without}' for t in missing)


def _compile(found):
    program = BpfProgram()
    found['uprobe_links'] = program.uprobes.links
    program.close()
    return 'the BPF program compiles and loads (kernel headers found)'


def _feature_checks(results, tracefs, uprobe_links):
    """The kernel features rostrace uses (system/features.py): a missing required one
    fails, a missing optional one is told with what rostrace does without it."""
    forced = features.forced()
    for feature, present in features.detect(tracefs, uprobe_links=uprobe_links):
        name = f'kernel: {feature.name} ({feature.since})'
        if feature.name in forced:
            results.append((True, name, f'not used ({forced[feature.name]}): '
                            f'{feature.without}', None))
        elif present:
            results.append((True, name, 'present', None))
        elif present is None:
            results.append((True, name, 'not known here (see the checks above)', None))
        elif feature.required:
            results.append((False, name, 'missing', feature.without))
        else:
            results.append((True, name, f'missing: {feature.without}', None))


def _node_checks(results, node):
    master = Master()
    holder = {}

    def resolve():
        holder['t'] = resolve_node(node, master=master, procfs=ProcFS())
        t = holder['t']
        ns = f', pid {t.ns_pid} in its own PID namespace' if t.ns_pid != t.pid else ''
        return f'{t.node} is host pid {t.pid}{ns}'
    if not _check(results, f'node {node}', resolve):
        return
    t = holder['t']
    results.append((True, 'roscpp library', t.library, None))
    for name, point in sorted(t.probe_points.items()):
        results.append((True, f'probe point {name}', f'{point.symbol} at {point.address:#x}',
                        None))
    for name, reason in sorted(t.missing.items()):
        results.append((False, f'probe point {name}', reason,
                        'this roscpp build lacks the symbol: the stages needing it are '
                        'reported unavailable'))


def run(args):
    results = []
    _check(results, 'privileges', lambda: preflight.check_privileges('rostrace doctor')
           or ('root' if os.geteuid() == 0 else 'CAP_BPF + CAP_PERFMON'))
    tracefs_ok = _check(results, 'tracefs and uprobes', lambda: preflight.check_kernel()
                        or f'tracefs at {preflight.TRACEFS}, uprobe_events present')
    if tracefs_ok:
        _check(results, 'tracepoints', _tracepoints)
    bcc_ok = _check(results, 'BCC', lambda: preflight.check_bcc() or 'python3-bpfcc imports')
    found = {}
    if bcc_ok and tracefs_ok and results[0][0]:
        _check(results, 'BPF compile', lambda: _compile(found))
    if results[0][0]:
        _feature_checks(results, preflight.TRACEFS if tracefs_ok else None,
                        found.get('uprobe_links'))
    if args.node:
        _node_checks(results, args.node)
    for ok, name, detail, hint in results:
        print(f'[{" OK " if ok else "FAIL"}] {name}: {detail}')
        if not ok and hint:
            print(f'       fix: {hint}')
    failed = [r for r in results if not r[0]]
    print('tracing will work' if not failed else f'{len(failed)} problem(s): tracing will not work')
    return 0 if not failed else 1
