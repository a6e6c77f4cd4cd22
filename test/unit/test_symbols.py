"""Probe points by mangled name: robust to ABI tags and argument lists."""
import pytest

from rostrace.system.symbols import PROBE_POINTS, nested_name

ROSCPP_1_15 = ('_ZN3ros17SubscriptionQueue4pushERKN5boost10shared_ptrINS_26'
               'SubscriptionCallbackHelperEEERKNS2_INS_19MessageDeserializerEEEbRKNS1_8'
               'weak_ptrIKvEEbNS_4TimeEPb')


@pytest.mark.parametrize('mangled, expected', [
    (ROSCPP_1_15, ('ros', 'SubscriptionQueue', 'push')),
    ('_ZN3ros17SubscriptionQueue4callEv', ('ros', 'SubscriptionQueue', 'call')),
    ('_ZN3ros19MessageDeserializer11deserializeEv', ('ros', 'MessageDeserializer',
                                                     'deserialize')),
    ('_ZNK3ros4Time5toSecB5cxx11Ev', ('ros', 'Time', 'toSec')),        # const + ABI tag
    ('_ZN3ros17SubscriptionQueue4pushB5cxx11ERKi', ('ros', 'SubscriptionQueue', 'push')),
    ('_ZN3ros17SubscriptionQueueC2ERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEib',
     None),                                                              # constructor
    ('_Z3fooi', None),
    ('main', None),
    ('_ZN3ros', None),
])
def test_nested_name(mangled, expected):
    assert nested_name(mangled) == expected


def test_probe_points_are_qualified_roscpp_names():
    assert all(q[0] == 'ros' if isinstance(q, tuple) else q.startswith('_ZN3ros')
               for q in PROBE_POINTS.values())


def test_timer_points_are_found_by_exact_name_in_the_installed_roscpp():
    from rostrace.system.symbols import TIMER_POINTS, find_probe_points
    found, missing = find_probe_points('/usr/lib/x86_64-linux-gnu/libroscpp.so',
                                       tuple(TIMER_POINTS))
    assert not missing and set(found) == set(TIMER_POINTS)
    assert {p.symbol for p in found.values()} == set(TIMER_POINTS.values())


CALL_TAIL = '''\
  15025d:\tmov    (%rdi),%rax
  150263:\tcall   *0x18(%rax)
  150266:\tmov    0xe0(%rsp),%rax
  15026e:\ttest   %rax,%rax
  150271:\tje     150295 <_ZN3ros17SubscriptionQueue4callEv@@Base+0x5d5>
  150273:\tlock subl $0x1,0x8(%rbx)
  150295:\tret
'''


def _rows(text):
    return [(int(a, 16), t.strip()) for a, _, t in
            (line.strip().partition(':\t') for line in text.splitlines())]


def test_the_callback_end_probe_moves_to_the_next_direct_branch():
    from rostrace.system.symbols import emulated_point
    assert emulated_point(_rows(CALL_TAIL), 2) == 0x150271


def test_older_binutils_q_suffixes_read_the_same():
    """objdump 2.35 (Debian 11) writes callq / jmpq / retq: the helper call and the
    branch after it are found all the same."""
    from rostrace.system.symbols import helper_call_return
    head = '  150250:\tcall   150000 <_ZN3ros19MessageDeserializer11deserializeEv@plt>\n'
    new = head + CALL_TAIL
    old = new.replace('call   ', 'callq  ').replace('\tret\n', '\tretq\n')
    assert 'callq  *0x18' in old
    assert helper_call_return(new) == helper_call_return(old) == 0x150271


def test_the_callback_end_probe_stays_where_another_path_joins_or_a_branch_may_hide():
    from rostrace.system.symbols import emulated_point
    joined = CALL_TAIL + '  150299:\tjmp    15026e <x>\n'
    assert emulated_point(_rows(joined), 2) == 0x150266
    hidden = CALL_TAIL.replace('test   %rax,%rax', 'call   *%rax')
    assert emulated_point(_rows(hidden), 2) == 0x150266
    locked = CALL_TAIL.replace('test   %rax,%rax', 'lock incl (%rax)')
    assert emulated_point(_rows(locked), 2) == 0x150266


def test_the_installed_roscpps_callback_end_is_a_direct_branch_the_kernel_runs_itself():
    import subprocess
    from rostrace.system.symbols import find_probe_points
    path = '/usr/lib/x86_64-linux-gnu/libroscpp.so'
    found, missing = find_probe_points(path, ('queue_call', 'callback_done'))
    assert not missing
    at = found['callback_done'].address
    out = subprocess.run(['objdump', '-d', '--no-show-raw-insn', f'--start-address={at:#x}',
                          f'--stop-address={at + 16:#x}', path], capture_output=True,
                         text=True, check=True).stdout
    first = next(line for line in out.splitlines() if line.strip().startswith(f'{at:x}:'))
    assert first.split('\t')[1].startswith(('j', 'call ', 'callq '))
