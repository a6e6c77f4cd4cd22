"""Probe points as constants, found in an ELF by their mangled names (pyelftools)."""
import collections
import os
import re
import subprocess
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import ProbePointMissing

# Probe point -> qualified C++ name. Argument lists and ABI tags are ignored when
# matching, so another roscpp build with different parameter types still matches.
PROBE_POINTS = {
    'queue_push': ('ros', 'SubscriptionQueue', 'push'),
    'queue_call': ('ros', 'SubscriptionQueue', 'call'),
    'deserialize': ('ros', 'MessageDeserializer', 'deserialize'),
    'topic_publish': ('ros', 'TopicManager', 'publish'),
    'publication_publish': ('ros', 'Publication', 'publish'),
}
# Template instantiations the nested-name matcher skips: by their exact mangled names
# (TimerManager<T, D, E>::schedule(boost::shared_ptr<TimerInfo> const&), libroscpp).
TIMER_POINTS = {
    'timer_schedule': '_ZN3ros12TimerManagerINS_4TimeENS_8DurationENS_10TimerEventEE8schedule'
                      'ERKN5boost10shared_ptrINS4_9TimerInfoEEE',
    'wall_timer_schedule': '_ZN3ros12TimerManagerINS_8WallTimeENS_12WallDurationENS_14Wall'
                           'TimerEventEE8scheduleERKN5boost10shared_ptrINS4_9TimerInfoEEE',
    'steady_timer_schedule': '_ZN3ros12TimerManagerINS_10SteadyTimeENS_12WallDurationENS_16'
                             'SteadyTimerEventEE8scheduleERKN5boost10shared_ptrINS4_9TimerInfo'
                             'EEE',
}
PROBE_POINTS.update(TIMER_POINTS)
SERVICE_POINTS = {
    'service_request': ('ros', 'ServicePublication', 'processRequest'),
    'service_callback': ('ros', 'ServiceCallback', 'call'),
    'service_response': ('ros', 'ServiceClientLink', 'processResponse'),
    'client_call': ('ros', 'ServiceClient', 'call'),
    'client_link_call': ('ros', 'ServiceServerLink', 'call'),
    'client_finished': ('ros', 'ServiceServerLink', 'callFinished'),
}
PROBE_POINTS.update(SERVICE_POINTS)
# Points inside a function, found by reading its code: `callback_done` is the instruction
# right after SubscriptionQueue::call's virtual call of SubscriptionCallbackHelper::call
# (the user callback). An entry probe there ends the callback without a return probe on
# SubscriptionQueue::call: a callback's exception passes through that function to the
# node's own catch, and a uretprobe trampoline in its way would kill the node.
DERIVED_POINTS = {'callback_done': 'queue_call'}
ALL_POINTS = (*PROBE_POINTS, *DERIVED_POINTS)
# subscriber side (every traced process: its topics, timers and services)
RECEIVE_POINTS = frozenset({'queue_push', 'queue_call', 'deserialize', 'callback_done',
                            *TIMER_POINTS, *SERVICE_POINTS})
# libnodeletlib: where a subscription's message enters a nodelet's own queue.
NODELET_ADD_CALLBACK = ('nodelet', 'detail', 'CallbackQueue', 'addCallback')
# tf2 (libtf2_ros, libtf2; geometry2 noetic): overloads told apart by their exact mangled
# names (the Noetic ABI, std::__cxx11 strings) -> entry handler (tf.c).
_STR = 'RKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE'
TF_POINTS = {
    f'_ZNK7tf2_ros6Buffer15lookupTransformE{_STR}S8_RKN3ros4TimeENS9_8DurationE':
        'on_tf_lookup',
    f'_ZNK7tf2_ros6Buffer15lookupTransformE{_STR}RKN3ros4TimeES8_SC_S8_NS9_8DurationE':
        'on_tf_lookup_full',
    f'_ZNK7tf2_ros6Buffer12canTransformE{_STR}S8_RKN3ros4TimeENS9_8DurationEPS6_':
        'on_tf_wait',
    f'_ZNK7tf2_ros6Buffer12canTransformE{_STR}RKN3ros4TimeES8_SC_S8_NS9_8DurationEPS6_':
        'on_tf_wait_full',
    f'_ZNK3tf210BufferCore15lookupTransformE{_STR}S8_RKN3ros4TimeE':
        'on_tf_core_lookup',
    f'_ZNK3tf210BufferCore15lookupTransformE{_STR}RKN3ros4TimeES8_SC_S8_':
        'on_tf_core_lookup_full',
    # canTransform(..., timeout)'s last call, after its final check: the wait's end
    '_ZN7tf2_ros33conditionally_append_timeout_infoEPNSt7__cxx1112basic_stringIcSt11char_'
    'traitsIcESaIcEEERKN3ros4TimeERKNS7_8DurationE': 'on_tf_wait_done',
}
THROW_POINT = ('__cxa_throw', 'on_cxa_throw')       # libstdc++
HELPER_CALL_SLOT = 0x18     # SubscriptionCallbackHelper vtable: 2 destructors, deserialize, call
PUBLISH_POINTS = frozenset({'topic_publish', 'publication_publish'})      # publisher side


@dataclass(frozen=True)
class ProbePoint:
    name: str          # key of PROBE_POINTS
    symbol: str        # mangled name as found
    address: int       # st_value (virtual address in the ELF)
    path: str          # ELF path as opened
    size: int = 0      # st_size (bytes of code), 0 when the ELF does not say


def _source_name(mangled, pos):
    """<length><identifier> at pos -> (identifier, next pos) or (None, pos)."""
    end = pos
    while end < len(mangled) and mangled[end].isdigit():
        end += 1
    if end == pos:
        return None, pos
    length = int(mangled[pos:end])
    return mangled[end:end + length], end + length


def nested_name(mangled):
    """Qualified name of a mangled member function, e.g. ('ros', 'Foo', 'bar').

    Handles _ZN...E nested names with CV/ref qualifiers and ABI tags (B5cxx11);
    returns None for anything else (templates, constructors, plain functions).
    """
    if not mangled.startswith('_ZN'):
        return None
    pos = 3
    while pos < len(mangled) and mangled[pos] in 'KVrRO':
        pos += 1
    parts = []
    while pos < len(mangled) and mangled[pos] != 'E':
        if mangled[pos] == 'B':                      # ABI tag of the previous part
            _, pos = _source_name(mangled, pos + 1)
            continue
        name, new_pos = _source_name(mangled, pos)
        if name is None:
            return None                              # template args, substitutions...
        parts.append(name)
        pos = new_pos
    if pos >= len(mangled) or not parts:
        return None
    return tuple(parts)


def _defined_functions(path):
    """(name, address, size) of every defined function in .dynsym and .symtab."""
    with open(path, 'rb') as f:
        elf = ELFFile(f)
        for section_name in ('.dynsym', '.symtab'):
            section = elf.get_section_by_name(section_name)
            if section is None:
                continue
            for sym in section.iter_symbols():
                if (sym['st_info']['type'] == 'STT_FUNC' and sym['st_value'] != 0
                        and sym['st_shndx'] != 'SHN_UNDEF'):
                    yield sym.name, sym['st_value'], sym['st_size']


def _function_symbols(path):
    """{qualified name: (mangled, address, size)} of the defined functions in an ELF."""
    found = {}
    exact = set(TIMER_POINTS.values())
    for name, address, size in _defined_functions(path):
        qualified = name if name in exact else nested_name(name)
        if qualified and qualified not in found:
            found[qualified] = (name, address, size)
    return found


def file_offset(path, vaddr):
    """Offset in the ELF file at `path` of virtual address `vaddr` (what a uprobe takes)."""
    with open(path, 'rb') as f:
        for seg in ELFFile(f).iter_segments():
            if (seg['p_type'] == 'PT_LOAD'
                    and seg['p_vaddr'] <= vaddr < seg['p_vaddr'] + seg['p_memsz']):
                return vaddr - seg['p_vaddr'] + seg['p_offset']
    raise ProbePointMissing(f'{vaddr:#x} is in no loadable segment of {path}')


def symbol_address(path, name):
    """Address of the plain (C) function `name` in the ELF at `path`, or None."""
    return next((address for sym, address, _ in _defined_functions(path) if sym == name),
                None)


_SYMBOLS = collections.OrderedDict()    # file identity -> _function_symbols(), LRU
SYMBOL_CACHE_FILES = 16


def function_symbols(path):
    """_function_symbols() of the file at `path`, read once per file: by its identity,
    not its path (every process reaches the same libroscpp by its own /proc/PID/root)."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    found = _SYMBOLS.get(key)
    if found is not None:
        _SYMBOLS.move_to_end(key)
        return found
    try:
        found = _SYMBOLS[key] = _function_symbols(path)
    except ELFError as e:
        raise ProbePointMissing(f'{path} is not a readable ELF file: {e}') from None
    if len(_SYMBOLS) > SYMBOL_CACHE_FILES:
        _SYMBOLS.popitem(last=False)
    return found


def find_probe_points(path, names=ALL_POINTS):
    """Probe points found in the ELF at `path`, and {name: reason} for the missing."""
    symbols = function_symbols(path)
    found, missing = {}, {}
    for name in names:
        if name in DERIVED_POINTS:
            continue
        qualified = PROBE_POINTS[name]
        if qualified in symbols:
            mangled, address, size = symbols[qualified]
            found[name] = ProbePoint(name, mangled, address, path, size)
        else:
            shown = qualified if isinstance(qualified, str) else '::'.join(qualified)
            missing[name] = f'{shown} not found in .dynsym/.symtab of {path}'
    if 'callback_done' in names:
        call = found.get('queue_call') or (find_probe_points(path, ('queue_call',))[0]
                                           .get('queue_call'))
        address = call and callback_return_address(path, call.address, call.size)
        if address:
            found['callback_done'] = ProbePoint('callback_done', call.symbol + '+callback',
                                                address, path)
        else:
            missing['callback_done'] = (f'no virtual call of the subscription callback found '
                                        f'in SubscriptionQueue::call of {path}')
    return found, missing


_CALLBACK_RETURNS = {}      # file identity -> address or None


def callback_return_address(path, start, size):
    """Address of the instruction after SubscriptionQueue::call's `helper->call(params)`
    (the first call through vtable slot HELPER_CALL_SLOT after the call of
    MessageDeserializer::deserialize), read from the disassembly (binutils objdump), or
    None. Cached per file."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, start)
    if key not in _CALLBACK_RETURNS:
        _CALLBACK_RETURNS[key] = _callback_return(path, start, size or 4096)
    return _CALLBACK_RETURNS[key]


def _callback_return(path, start, size):
    try:
        out = subprocess.run(['objdump', '-d', '--no-show-raw-insn', f'--start-address={start:#x}',
                              f'--stop-address={start + size:#x}', path], capture_output=True,
                             text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return helper_call_return(out)


# binutils before 2.37 (Debian 11's 2.35) prints callq / jmpq / retq for 64-bit code.
_Q_SUFFIX = re.compile(r'^(call|jmp|ret)q\b')


def helper_call_return(disassembly):
    """Where to probe the end of the helper call in objdump output (see
    callback_return_address): the instruction after the call, or the first direct branch
    a few plain instructions later (below)."""
    rows = []
    for line in disassembly.splitlines():
        head, _, text = line.partition(':\t')
        try:
            rows.append((int(head.strip(), 16), _Q_SUFFIX.sub(r'\1', text.strip())))
        except ValueError:
            continue
    seen_deserialize = False
    for i, (address, text) in enumerate(rows):
        if text.startswith('call') and 'MessageDeserializer11deserialize' in text:
            seen_deserialize = True
        elif seen_deserialize and text.replace(' ', '').startswith(
                f'call*{HELPER_CALL_SLOT:#x}(%'):
            return emulated_point(rows, i + 1) if i + 1 < len(rows) else None
    return None


# x86 uprobes run a probed direct branch (jmp/jcc/call rel) in the kernel, but copy any
# other instruction out of line and single-step it: a second exception per hit, which
# cost more than all of rostrace's handlers together in a VM (bench section 11). So the
# probe after the helper call moves forward over a few instructions that cannot branch
# to the first direct branch, unless a branch of the function lands in between (then
# another path would reach the probe): every path through the return passes it.
_PLAIN = re.compile(r'^(mov[a-z]*|lea[lq]?|test[bwlq]?|cmp[bwlq]?|add[bwlq]?|sub[bwlq]?|and[bwlq]?|'
                    r'or[bwlq]?|xor[bwlq]?|sh[lr][bwlq]?|sar[bwlq]?|nop[wl]?)$')
_DIRECT = re.compile(r'^(j[a-z]+|call)\s+([0-9a-f]+)\b')
PLAIN_STEPS = 6


def emulated_point(rows, start):
    """Address to probe for `rows[start]` (objdump rows (address, text) of one function):
    the first direct branch reached from it through plain instructions only, else itself."""
    targets = {int(m.group(2), 16) for _, text in rows for m in [_DIRECT.match(text)] if m}
    first = rows[start][0]
    for address, text in rows[start:start + PLAIN_STEPS + 1]:
        if address != first and address in targets:
            break           # another path joins here
        if _DIRECT.match(text):
            return address
        if not _PLAIN.match(text.split(' ', 1)[0]):
            break
    return first


def has_roscpp(path):
    """True when the ELF defines roscpp's subscription queue (lib or static link)."""
    try:
        return PROBE_POINTS['queue_push'] in function_symbols(path)
    except (OSError, ProbePointMissing):
        return False


def find_nodelet_point(path):
    """ProbePoint of nodelet::detail::CallbackQueue::addCallback in the ELF at `path`,
    or None."""
    try:
        found = function_symbols(path).get(NODELET_ADD_CALLBACK)
    except (OSError, ProbePointMissing):
        return None
    return found and ProbePoint('nodelet_add_callback', found[0], found[1], path, found[2])


def find_tf_points(path):
    """[(handler, address)] of the tf2 probe points in the ELF at `path`; [] when it has
    none."""
    try:
        return sorted((TF_POINTS[name], address) for name, address, _ in _defined_functions(path)
                      if name in TF_POINTS)
    except (OSError, ELFError):
        return []


def elf_address(path, offset):
    """Virtual address in the ELF at `path` of file offset `offset`, or None."""
    with open(path, 'rb') as f:
        for seg in ELFFile(f).iter_segments():
            if (seg['p_type'] == 'PT_LOAD'
                    and seg['p_offset'] <= offset < seg['p_offset'] + seg['p_filesz']):
                return offset - seg['p_offset'] + seg['p_vaddr']
    return None


def function_at(path, address):
    """Mangled name of the function of the ELF at `path` that starts at `address`, or
    None (addresses inside a function are not named: a code pointer points at a start)."""
    return next((name for name, start, _ in _defined_functions(path) if start == address),
                None)


def demangle(names):
    """{mangled: demangled} through binutils' c++filt (names that are not C++ stay)."""
    names = list(names)
    if not names:
        return {}
    try:
        out = subprocess.run(['c++filt'], input='\n'.join(names), capture_output=True,
                             text=True, timeout=10, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {n: n for n in names}
    return dict(zip(names, out)) if len(out) == len(names) else {n: n for n in names}
