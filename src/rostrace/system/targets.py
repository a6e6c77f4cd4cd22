"""ROS node name -> TargetProcess: master XML-RPC, the node's own getPid, /proc."""
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import BadPeer, ProcessGone, UnsupportedNode
from ..model.names import absolute
from . import symbols
from .host import host_name
from .procfs import ProcFS
from .rosapi import CallFailed, Node, split_uri


@dataclass
class TargetProcess:
    node: str
    pid: int                 # host PID (what BPF sees as tgid)
    ns_pid: int              # PID inside the node's own PID namespace
    host: str
    library: str             # ELF holding roscpp, reachable from here
    probe_points: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)    # probe point -> reason
    uri: str = ''            # the node's slave API, '' when unknown
    start_time: int = 0      # procfs.identity: tells this process from a later same PID
    nodelet_point: object = None   # ProbePoint in libnodeletlib: a nodelet manager
    tf_points: tuple = ()          # (handler, path, address) in libtf2 / libtf2_ros / libstdc++
    client: str = 'roscpp'         # or 'rospy': no probe point, its sockets framed (rospy.c)

    def subscriptions(self):
        """Topics the node itself says it subscribes to (empty when it cannot say)."""
        return Node(self.uri).subscriptions() if self.uri else set()

    def publications(self):
        return Node(self.uri).publications() if self.uri else set()


def _local_host():
    return host_name()


def find_roscpp(procfs, pid):
    """ELF of the target that holds roscpp: the mapped libroscpp or the executable."""
    seen = set()
    for m in procfs.maps(pid):
        base = os.path.basename(m.path)
        if base.startswith('libroscpp.so') and m.path not in seen:
            seen.add(m.path)
            path = procfs.in_root(pid, m.path)
            if symbols.has_roscpp(path):
                return path
    exe_path = procfs.path(pid, 'exe')
    if symbols.has_roscpp(exe_path):
        return exe_path
    exe = os.path.basename(procfs.exe(pid))
    if is_python(procfs, pid):
        raise UnsupportedNode(f'process {pid} ({exe}) is a rospy node, not a roscpp one')
    raise UnsupportedNode(f'process {pid} ({exe}) does not use roscpp',
                          hint='rostrace traces roscpp (C++) nodes')


def is_python(procfs, pid):
    exe = os.path.basename(procfs.exe(pid))
    return exe.startswith('python') or any('libpython' in m.path for m in procfs.maps(pid))


def find_nodelet_point(procfs, pid):
    """ProbePoint of the nodelet queue's addCallback in the libnodeletlib `pid` maps
    (a nodelet manager), or None."""
    for path in sorted({m.path for m in procfs.maps(pid)
                        if os.path.basename(m.path).startswith('libnodeletlib.so')}):
        point = symbols.find_nodelet_point(procfs.in_root(pid, path))
        if point:
            return point
    return None


TF_LIBRARIES = ('libtf2_ros.so', 'libtf2.so')


def find_tf_points(procfs, pid):
    """(handler, path, address) of the tf2 probe points of `pid` (symbols.TF_POINTS in
    the libtf2_ros / libtf2 it maps, and __cxa_throw in its libstdc++), () when it uses
    no tf2."""
    points = []
    maps = procfs.maps(pid)
    for path in sorted({m.path for m in maps
                        if os.path.basename(m.path).startswith(TF_LIBRARIES)}):
        here = procfs.in_root(pid, path)
        points += [(handler, here, address) for handler, address in symbols.find_tf_points(here)]
    if not points:
        return ()
    symbol, handler = symbols.THROW_POINT
    for path in sorted({m.path for m in maps
                        if os.path.basename(m.path).startswith('libstdc++.so')}):
        here = procfs.in_root(pid, path)
        address = symbols.symbol_address(here, symbol)
        if address:
            points.append((handler, here, address))
            break
    return tuple(points)


def libc_function(procfs, pid, name):
    """(path reachable from here, address) of C function `name` in the libc `pid` maps."""
    for m in procfs.maps(pid):
        if os.path.basename(m.path).startswith('libc.so'):
            path = procfs.in_root(pid, m.path)
            address = symbols.symbol_address(path, name)
            if address:
                return path, address
    raise UnsupportedNode(f'process {pid} maps no libc with {name}')


def runtime_range(procfs, target, point):
    """[lo, hi) of probe point `point`'s function in the memory of `target`, or None
    when its size is unknown or the library is not mapped where the ELF says."""
    found = target.probe_points.get(point)
    if found is None or not found.size:
        return None
    offset = symbols.file_offset(target.library, found.address)
    inode = os.stat(target.library).st_ino
    for m in procfs.maps(target.pid):
        if m.inode == inode and m.offset <= offset < m.offset + (m.end - m.start):
            lo = m.start + offset - m.offset
            return lo, lo + found.size
    return None


def find_malloc(procfs, pid):
    """(libc path reachable from here, address of malloc) for the real-time audit."""
    try:
        return libc_function(procfs, pid, 'malloc')
    except UnsupportedNode as e:
        raise UnsupportedNode(f'{e}: cannot audit allocations') from None


def target_from_pid(pid, *, node='', procfs=None, uri=''):
    procfs = procfs or ProcFS()
    start_time = procfs.identity(pid)
    chain = procfs.nspid(pid) or [pid]
    if is_python(procfs, pid):      # a rospy node (a Python roscpp binding would map roscpp)
        library = next((procfs.in_root(pid, m.path) for m in procfs.maps(pid)
                        if os.path.basename(m.path).startswith('libroscpp.so')), None)
        if library is None:
            return TargetProcess(node=node or f'pid:{pid}', pid=pid, ns_pid=chain[-1],
                                 host=_local_host(), library='', uri=uri,
                                 start_time=start_time, client='rospy')
    library = find_roscpp(procfs, pid)
    found, missing = symbols.find_probe_points(library)
    return TargetProcess(node=node or f'pid:{pid}', pid=pid, ns_pid=chain[-1],
                         host=_local_host(), library=library, probe_points=found,
                         missing=missing, uri=uri, start_time=start_time,
                         nodelet_point=find_nodelet_point(procfs, pid),
                         tf_points=find_tf_points(procfs, pid))


def same_process(procfs, target):
    """True while `target` still runs: same PID, same start time, not a zombie."""
    try:
        return procfs.identity(target.pid) == target.start_time
    except ProcessGone:
        return False


def name_from_cmdline(procfs, pid):
    """The node name given as `__name:=` on the command line, if any."""
    try:
        args = procfs.read(pid, 'cmdline').split('\0')
    except ProcessGone:
        return ''
    for arg in args:
        if arg.startswith('__name:='):
            return absolute(arg[len('__name:='):])
    return ''


def discover_node_uri(procfs, pid):
    """The slave API URI of the ROS node run by `pid` (no master needed): the listening
    port whose getPid answers this process's own (namespaced) PID; '' if none does."""
    chain = procfs.nspid(pid) or [pid]
    for port in procfs.listening_ports(pid):
        uri = f'http://127.0.0.1:{port}/'
        try:
            if Node(uri).pid() == chain[-1]:
                return uri
        except (ProcessGone, BadPeer):
            continue
    return ''


def target_of_pid(pid, *, node='', procfs=None):
    """TargetProcess of a roscpp process known only by its host PID."""
    procfs = procfs or ProcFS()
    return target_from_pid(pid, node=node or name_from_cmdline(procfs, pid), procfs=procfs,
                           uri=discover_node_uri(procfs, pid))


class _ServerProof:
    """Which of `candidates` holds the server end of the connection a call opened: the
    socket (peer address, our address) must be in that process's fd table."""

    def __init__(self, procfs, candidates):
        self.procfs = procfs
        self.candidates = candidates
        self.owner = None
        self.seen = False       # a candidate's network namespace holds the connection

    def __call__(self, local, remote, deadline):
        while True:
            accepting = False
            for pid in self.candidates:
                try:
                    inode = self.procfs.connection_inode(pid, remote, local)
                    if inode and inode > 0 and inode in self.procfs.socket_inodes(pid):
                        self.owner = pid
                        return
                except ProcessGone:
                    continue
                self.seen = self.seen or inode is not None
                accepting = accepting or inode == 0
            if not accepting or time.monotonic() >= deadline:
                return          # not in any candidate's namespace, or never accepted
            time.sleep(0.002)


def resolve_node(node, *, master, procfs=None):
    """Resolve a ROS node name to the host process that runs it, proven: getPid is
    asked twice, the second time over a connection whose server end must be in the
    answering process's own fd table (a process elsewhere that answers getPid with
    another one's PID cannot redirect the probes)."""
    procfs = procfs or ProcFS()
    node = absolute(node)
    uri = master.lookup_node(node)
    try:
        split_uri(uri)
    except CallFailed as e:
        raise BadPeer(node, str(e)) from None
    ns_pid = Node(uri, node).pid()
    proof = _ServerProof(procfs, procfs.pid_candidates(ns_pid))
    again = Node(uri, node).pid(hold=proof)
    if again != ns_pid:
        raise BadPeer(node, f'getPid answered {ns_pid}, then {again}')
    if proof.owner is None and proof.seen:
        raise BadPeer(node, f'getPid at {uri} answered {ns_pid}, but process {ns_pid} '
                      'does not hold the connection: the answer is not its own')
    if proof.owner is None:
        raise ProcessGone(ns_pid, f'no local process with PID {ns_pid} serves {node} at '
                          f'{uri} (is it on another host? run rostrace on that host)')
    return target_from_pid(proof.owner, node=node, procfs=procfs, uri=uri)


class Resolver:
    """resolve_node on worker threads. A peer may take its whole XML-RPC deadline to
    answer (or trickle until it), again at every backoff retry: on the monitor's own
    thread that held up the publishing of every target. Here it holds up only its own
    attach; the BPF side of attaching stays with the caller."""

    WORKERS = 4
    STALE_S = 5.0               # an answer not taken this long after it was asked is not used

    def __init__(self, *, master, procfs, clock=time.monotonic):
        self.master, self.procfs, self.clock = master, procfs, clock
        self._pool = ThreadPoolExecutor(max_workers=self.WORKERS,
                                        thread_name_prefix='rostrace-resolve')
        self._asked = {}            # (purpose, node) -> (when asked, Future)

    def get(self, node, purpose=''):
        """`node`'s TargetProcess once resolved (or what resolve_node raised); None
        while it is being resolved -- asked now when it was not, or when the answer
        waiting is stale (the node may have restarted since). A node wanted for two
        purposes (a target and a publisher) is resolved for each."""
        key = (purpose, node)
        asked, future = self._asked.get(key, (None, None))
        if future is not None and not future.done():
            return None
        if future is None or self.clock() - asked > self.STALE_S:
            self._asked[key] = (self.clock(), self._pool.submit(
                resolve_node, node, master=self.master, procfs=self.procfs))
            return None
        del self._asked[key]
        return future.result()

    def close(self):
        """Drops what was not asked yet; a call under way ends within its deadline."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._asked = {}
