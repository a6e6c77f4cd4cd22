"""ROS node name -> TargetProcess: master XML-RPC, the node's own getPid, /proc."""
import os
import socket
import xmlrpc.client
from dataclasses import dataclass, field
from urllib.parse import urlparse

from . import symbols
from .errors import MasterUnreachable, NodeNotFound, ProcessGone, UnsupportedNode
from .procfs import ProcFS

CALLER_ID = '/rostrace'
XMLRPC_TIMEOUT_S = 3.0


@dataclass
class TargetProcess:
    node: str
    pid: int                 # host PID (what BPF sees as tgid)
    ns_pid: int              # PID inside the node's own PID namespace
    host: str
    library: str             # ELF holding roscpp, reachable from here
    probe_points: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)    # probe point -> reason
    uri: str = ''


class _TimeoutTransport(xmlrpc.client.Transport):
    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = XMLRPC_TIMEOUT_S
        return conn


def _proxy(uri):
    return xmlrpc.client.ServerProxy(uri, transport=_TimeoutTransport())


class Master:
    """The few master and slave API calls rostrace needs (ROS Master API)."""

    def __init__(self, uri=None):
        self.uri = uri or os.environ.get('ROS_MASTER_URI', 'http://localhost:11311')

    def _call(self, method, *args):
        try:
            code, msg, value = getattr(_proxy(self.uri), method)(CALLER_ID, *args)
        except (OSError, xmlrpc.client.Error) as e:
            raise MasterUnreachable(f'cannot reach the ROS master at {self.uri}: {e}',
                                    hint='start roscore or set ROS_MASTER_URI') from None
        return code, msg, value

    def nodes(self):
        _, _, state = self._call('getSystemState')
        return sorted({n for kind in state for _, names in kind for n in names})

    def lookup_node(self, node):
        code, _, uri = self._call('lookupNode', node)
        if code != 1:
            raise NodeNotFound(node, self.uri, self.nodes())
        return uri

    def publishers(self, topics):
        """{topic: [publisher nodes]} for the given topics."""
        _, _, state = self._call('getSystemState')
        return {topic: sorted(names) for topic, names in state[0] if topic in topics}

    def subscriptions(self, node):
        """Topics `node` subscribes to, as the master knows them."""
        _, _, state = self._call('getSystemState')
        return sorted(topic for topic, names in state[1] if node in names)


def node_call(uri, method, *args):
    try:
        code, msg, value = getattr(_proxy(uri), method)(CALLER_ID, *args)
    except (OSError, xmlrpc.client.Error) as e:
        raise ProcessGone(0, f'node at {uri} does not answer ({e})') from None
    return value


def _local_host():
    return socket.gethostname()


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
    if exe.startswith('python') or any('libpython' in m.path for m in procfs.maps(pid)):
        raise UnsupportedNode(f'process {pid} ({exe}) is a rospy node: rostrace traces '
                              'roscpp nodes only (rospy is not supported yet)')
    raise UnsupportedNode(f'process {pid} ({exe}) does not use roscpp',
                          hint='rostrace traces roscpp (C++) nodes')


def find_malloc(procfs, pid):
    """(libc path reachable from here, address of malloc) for the real-time audit."""
    for m in procfs.maps(pid):
        if os.path.basename(m.path).startswith('libc.so'):
            path = procfs.in_root(pid, m.path)
            address = symbols.symbol_address(path, 'malloc')
            if address:
                return path, address
    raise UnsupportedNode(f'process {pid} maps no libc with malloc: cannot audit allocations')


def target_from_pid(pid, *, node='', procfs=None, uri=''):
    procfs = procfs or ProcFS()
    chain = procfs.nspid(pid) or [pid]
    library = find_roscpp(procfs, pid)
    found, missing = symbols.find_probe_points(library)
    return TargetProcess(node=node or f'pid:{pid}', pid=pid, ns_pid=chain[-1],
                         host=_local_host(), library=library, probe_points=found,
                         missing=missing, uri=uri)


def resolve_node(node, *, master, procfs=None):
    """Resolve a ROS node name to the host process that runs it."""
    procfs = procfs or ProcFS()
    if not node.startswith('/'):
        node = '/' + node
    uri = master.lookup_node(node)
    ns_pid = node_call(uri, 'getPid')
    if not isinstance(ns_pid, int):
        raise ProcessGone(0, f'node {node} gave no PID')
    port = urlparse(uri).port
    pid = procfs.host_pid(ns_pid, port=port)
    if pid is None:
        raise ProcessGone(ns_pid, f'no local process serves {node} at {uri} '
                          '(is it on another host? run rostrace on that host)')
    return target_from_pid(pid, node=node, procfs=procfs, uri=uri)
