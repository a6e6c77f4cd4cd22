"""The kernel<->user contract: probes/bpf/rostrace.h (compiled with the C compiler) and
the generated probes/abi.py (ctypes) must agree on every enum value, field, offset and
size; and the Python histogram must bucket like the header's bucket_of()."""
import ctypes
import os
import shutil
import subprocess

import pytest

from rostrace.model.histogram import bucket_of
from rostrace.probes import abi, contract

CC = shutil.which('cc') or shutil.which('gcc')
PRELUDE = '''#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
typedef uint8_t u8; typedef uint32_t u32; typedef uint64_t u64;
#define __always_inline inline __attribute__((always_inline))
#include "rostrace.h"
'''
BUCKET_VALUES = [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 4095, 4096, 65537, 999999,
                 8_000_000, 8_350_000, 1 << 40, (1 << 63) + 12345]


def compiled_facts(tmp_path):
    """Lines `enum NAME value`, `field STRUCT FIELD offset size`, `size STRUCT n` and
    `bucket VALUE n`, printed by a program built from rostrace.h."""
    enums, structs = contract.parse_header()
    body = []
    for members in enums.values():
        body += [f'printf("enum {m} %lld\\n", (long long){m});' for m in members]
    for name, fields in structs.items():
        body.append(f'printf("size {name} %zu\\n", sizeof(struct {name}));')
        body += [f'printf("field {name} {f} %zu %zu\\n", offsetof(struct {name}, {f}), '
                 f'sizeof(((struct {name} *)0)->{f}));' for f, _, _ in fields]
    body += [f'printf("bucket {v}ULL %u\\n", bucket_of({v}ULL));' for v in BUCKET_VALUES]
    src = tmp_path / 'layout.c'
    src.write_text(PRELUDE + 'int main(void) {\n' + '\n'.join(body) + '\nreturn 0;\n}\n')
    exe = tmp_path / 'layout'
    subprocess.run([CC, '-O0', '-I', os.path.dirname(contract.HEADER), '-o', str(exe),
                    str(src)], check=True, capture_output=True, text=True)
    return subprocess.run([str(exe)], check=True, capture_output=True,
                          text=True).stdout.splitlines()


def python_facts():
    """The same lines from the generated ctypes module."""
    enums, structs = contract.parse_header()
    lines = [f'enum {m} {getattr(abi, m)}' for members in enums.values() for m in members]
    for name in structs:
        cls = getattr(abi, contract.class_name(name))
        lines.append(f'size {name} {ctypes.sizeof(cls)}')
        lines += [f'field {name} {f} {getattr(cls, f).offset} {getattr(cls, f).size}'
                  for f, _ in cls._fields_]
    lines += [f'bucket {v}ULL {bucket_of(v)}' for v in BUCKET_VALUES]
    return lines


@pytest.mark.skipif(CC is None, reason='no C compiler (make test installs one)')
def test_ctypes_layout_equals_the_compiled_header(tmp_path):
    c, py = compiled_facts(tmp_path), python_facts()
    only_c = [line for line in c if line not in py]
    only_py = [line for line in py if line not in c]
    assert not only_c and not only_py, (
        'rostrace.h and abi.py disagree (run `make abi` after editing rostrace.h)\n'
        f'  compiled C: {only_c}\n  abi.py:     {only_py}')


def test_abi_module_is_generated_from_the_header():
    with open(contract.GENERATED) as f:
        committed = f.read()
    assert committed == contract.generate(*contract.parse_header()), (
        'probes/abi.py is stale: run `make abi` after editing rostrace.h')


def test_parser_follows_c_enum_rules_and_rejects_what_it_cannot_mirror():
    enums = contract.parse_enums('enum e { A = 3, B, /* c */ C = 0x10, D };')
    assert enums == {'e': {'A': 3, 'B': 4, 'C': 16, 'D': 17}}
    with pytest.raises(contract.ContractError, match='double'):
        contract.parse_structs('struct s { double x; };', {})
    with pytest.raises(contract.ContractError, match='unknown array length'):
        contract.parse_structs('struct s { u8 x[N]; };', {})


def test_every_hit_and_record_has_a_name():
    names = [abi.HIT[h] for h in abi.HIT if h != 'HIT_COUNT']
    assert names == list(range(abi.HIT_COUNT))
    assert not set(abi.QUEUE_RECORD.values()) & set(abi.PUBLICATION_RECORD.values())


ROSCPP_LAYOUT = '''#include <deque>
#include <string>
#include <boost/enable_shared_from_this.hpp>
#include <boost/thread/mutex.hpp>
#include <boost/thread/recursive_mutex.hpp>
#include <ros/forwards.h>
#include <ros/callback_queue_interface.h>
#include <ros/time.h>
#define private public
#include <ros/subscription_queue.h>
#undef private
#include <cstddef>
#include <cstdio>
int main() {
  std::printf("%zu %zu %zu\\n", offsetof(ros::SubscriptionQueue, size_),
              offsetof(ros::SubscriptionQueue, full_),
              offsetof(ros::SubscriptionQueue, queue_size_));
}
'''


def test_subscription_queue_offsets_match_the_installed_roscpp(tmp_path):
    """Drops and GAUGE_QUEUED read SubscriptionQueue::size_, full_ and queue_size_ at
    the header's offsets: the installed roscpp's layout must put them there (full_ in
    the 8 bytes read from size_ on)."""
    src, exe = tmp_path / 'sq.cpp', tmp_path / 'sq'
    src.write_text(ROSCPP_LAYOUT)
    subprocess.run(['g++', '-Wno-invalid-offsetof', '-o', str(exe), str(src)], check=True)
    size, full, length = map(int, subprocess.run([str(exe)], capture_output=True, text=True,
                                                 check=True).stdout.split())
    assert (size, full, length) == (abi.SQ_SIZE_OFFSET, abi.SQ_FULL_OFFSET,
                                    abi.SQ_LENGTH_OFFSET)
    assert 0 <= abi.SQ_FULL_OFFSET - abi.SQ_SIZE_OFFSET < 8


def test_batch_reads_name_the_same_fields_as_the_structs():
    """probes/drain.py reads window maps as bytes: its rows carry every field of the
    abi.py struct, with its value."""
    from rostrace.probes import drain
    key = abi.HistKey(tgid=7, record=abi.STAGE_QUEUING, object=0xdeadbeef, group=18, pad=0)
    val = abi.StatVal(count=3, sum_ns=30, min_ns=5, max_ns=20)
    (row,) = drain.unpack(bytes(key), drain.HIST_KEY)
    assert row == (7, abi.STAGE_QUEUING, 0xdeadbeef, 18, 0)
    assert (row.tgid, row.record, row.object, row.group) == (7, abi.STAGE_QUEUING,
                                                              0xdeadbeef, 18)
    (stat,) = drain.unpack(bytes(val), drain.STAT_VAL)
    assert stat._fields == ('count', 'sum_ns', 'min_ns', 'max_ns') and stat == (3, 30, 5, 20)


TIMER_LAYOUT = '''#include <sstream>
#include <iomanip>
#include <boost/math/special_functions/round.hpp>
#include <boost/thread.hpp>
#include <ros/time.h>
#include <ros/timer_options.h>
#include <ros/wall_timer.h>
#include <ros/steady_timer.h>
#define private public
#include <ros/timer_manager.h>
#undef private
#include <cstddef>
#include <cstdio>
template <class T, class D, class E> void show() {
  typedef typename ros::TimerManager<T, D, E>::TimerInfo I;
  std::printf("%zu %zu %zu %zu %zu %zu %zu\\n", offsetof(I, period), offsetof(I, callback),
              sizeof(((I*)0)->callback), offsetof(I, last_cb_duration),
              offsetof(I, next_expected), offsetof(I, last_real), offsetof(I, last_expired));
}
int main() {
  show<ros::Time, ros::Duration, ros::TimerEvent>();
  show<ros::WallTime, ros::WallDuration, ros::WallTimerEvent>();
  show<ros::SteadyTime, ros::WallDuration, ros::SteadyTimerEvent>();
}
'''


def test_timer_info_offsets_match_the_installed_roscpp(tmp_path):
    """timers.c reads TimerManager<T, D, E>::TimerInfo of the three instantiations at the
    header's offsets (and the callback's first 16 bytes in user space)."""
    src, exe = tmp_path / 'ti.cpp', tmp_path / 'ti'
    src.write_text(TIMER_LAYOUT)
    subprocess.run(['g++', '-Wno-invalid-offsetof', '-o', str(exe), str(src)], check=True)
    rows = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    expected = (abi.TI_PERIOD_OFFSET, abi.TI_CALLBACK_OFFSET, 32,
                abi.TI_LAST_CB_DURATION_OFFSET, abi.TI_NEXT_EXPECTED_OFFSET,
                abi.TI_LAST_REAL_OFFSET, abi.TI_LAST_EXPIRED_OFFSET)
    assert [tuple(map(int, row.split())) for row in rows.splitlines()] == [expected] * 3
