"""roscpp timers of the traced processes: which callback a TimerInfo* runs, its period,
and the window's TimerNumbers -> TimerBreakdown (probes/bpf/timers.c measures).

A timer is named after its callback, read once from the process (the callback is
untrusted memory: only code addresses that start a function of an ELF the process maps
are named): roscpp keeps it as a boost::function in TimerInfo, whose small-object
buffer starts with the bound function (a plain function pointer, or the pointer of a
non-virtual member function bound with `this`, as createTimer(period, &Class::method,
obj) does). Else the boost::function's invoker names the callable's type (a lambda, a
functor); else the timer is named by its period and address.
"""
import struct

from ..model.breakdown import build_timer
from ..probes import abi
from ..system import symbols
from ..errors import RostraceError

TIMER_INFO_BYTES = abi.TI_CALLBACK_OFFSET + 32
KINDS = {abi.TIMER_ROS: 'ros', abi.TIMER_WALL: 'wall', abi.TIMER_STEADY: 'steady'}


class Timers:
    def __init__(self, procfs, attachments):
        self.procfs = procfs
        self.attachments = attachments
        self._names = {}        # (pid, TimerInfo*) -> (name, period in s)

    def forget(self, pid):
        self._names = {k: v for k, v in self._names.items() if k[0] != pid}

    def build(self, window):
        """TimerBreakdowns of a Window's timers, by process and name."""
        out = []
        for key, numbers in window.timers.items():
            target = self.attachments.subscribers.get(key.pid)
            if target is None:
                continue
            name, period_s = self.describe(key.pid, key.timer)
            out.append(build_timer(node=target.node, pid=key.pid, host=target.host,
                                   timer=name, period_s=period_s,
                                   kind=KINDS.get(numbers.kind, 'unknown'),
                                   window_s=window.window_s, numbers=numbers))
        return sorted(out, key=lambda t: (t.pid, t.timer))

    def describe(self, pid, info):
        """(name, period in s) of the timer `info` in process `pid` (cached)."""
        key = (pid, info)
        if key not in self._names:
            self._names[key] = self._read(pid, info)
        return self._names[key]

    def _read(self, pid, info):
        raw = self.procfs.read_memory(pid, info, TIMER_INFO_BYTES)
        if len(raw) < TIMER_INFO_BYTES:
            return f'timer @0x{info:x}', 0.0
        sec, nsec = struct.unpack_from('<iI', raw, abi.TI_PERIOD_OFFSET)
        period_s = sec + nsec * 1e-9
        vtable, function = struct.unpack_from('<QQ', raw, abi.TI_CALLBACK_OFFSET)
        name = self._code_name(pid, function)
        if name is None and vtable:
            invoker = self.procfs.read_memory(pid, (vtable & ~1) + 8, 8)
            if len(invoker) == 8:
                name = _callable_type(self._code_name(pid, struct.unpack('<Q', invoker)[0]))
        return name or f'{period_s * 1e3:g} ms timer @0x{info:x}', period_s

    def _code_name(self, pid, address):
        """Demangled name of the function starting at `address` in `pid`, or None."""
        try:
            maps = self.procfs.maps(pid)
        except RostraceError:       # gone, or its /proc unreadable: no name
            return None
        for m in maps:
            if m.start <= address < m.end and 'x' in m.perms:
                path = self.procfs.in_root(pid, m.path)
                try:
                    vaddr = symbols.elf_address(path, address - m.start + m.offset)
                    mangled = vaddr is not None and symbols.function_at(path, vaddr)
                except (OSError, ValueError, symbols.ELFError):
                    return None
                return short_name(symbols.demangle([mangled])[mangled]) if mangled else None
        return None


def short_name(demangled):
    """'void (anonymous namespace)::Ctl::update<ros::TimerEvent>(ros::TimerEvent const&)'
    -> 'Ctl::update<ros::TimerEvent>': no return type, parameters or anonymous namespace."""
    name = demangled.replace('(anonymous namespace)::', '')
    if name.endswith(')'):              # the parameter list: from its matching '('
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {')': 1, '(': -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    depth, start = 0, 0
    for i, c in enumerate(name):         # a return type ends at a space outside <>
        depth += {'<': 1, '>': -1}.get(c, 0)
        if c == ' ' and depth == 0:
            start = i + 1
    return name[start:] or demangled


def _callable_type(invoker):
    """'boost::detail::function::void_function_obj_invoker1<F, void, E const&>::invoke(...)'
    -> F (the callable's type), or None."""
    if not invoker or '<' not in invoker:
        return None
    inner, depth = invoker[invoker.index('<') + 1:], 0
    for i, c in enumerate(inner):
        depth += c == '<'
        depth -= c == '>'
        if c == ',' and depth == 0:
            return inner[:i]
    return None
