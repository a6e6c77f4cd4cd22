"""The ROS Master and slave APIs (XML-RPC) rostrace calls.

Everything a master or node answers is untrusted input (rostrace runs as root next to
them). Each call has a total deadline (connect, send and every byte of the reply, not a
per-recv timeout a peer can trickle past) and a reply size cap; every reply's shape is
checked before use. Failures become MasterUnreachable (the master), ProcessGone (a node
that is not there: connection refused) or BadPeer (a node that answers, but nonsense),
never another exception.
"""
import ipaddress
import os
import socket
import time
import xmlrpc.client
from urllib.parse import urlsplit

from ..errors import BadPeer, MasterUnreachable, NodeNotFound, ProcessGone
from ..model.nodestats import bus_stats_value
from .procfs import canonical_ip

CALLER_ID = '/rostrace'
MASTER_DEADLINE_S = 3.0
NODE_DEADLINE_S = 1.0          # a healthy node answers getPid in milliseconds
MAX_REPLY_BYTES = 16 << 20     # getSystemState of a large system stays far below


class CallFailed(Exception):
    """One XML-RPC exchange failed; `refused` when nothing listens there."""

    def __init__(self, reason, *, refused=False):
        super().__init__(reason)
        self.refused = refused


def split_uri(uri):
    """(host, port) of an http:// XML-RPC URI, or CallFailed naming what is wrong."""
    if not isinstance(uri, str) or len(uri) > 1024:
        raise CallFailed(f'not a URI: {uri!r:.80}')
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as e:
        raise CallFailed(f'bad URI {uri!r:.80}: {e}') from None
    if parts.scheme != 'http' or not parts.hostname:
        raise CallFailed(f'not an http:// URI: {uri!r:.80}')
    if port is None:
        raise CallFailed(f'URI without a port: {uri!r:.80}')
    return parts.hostname, port


def _read_reply(sock, deadline):
    """The HTTP reply body, read under the total deadline and the size cap."""
    data = bytearray()
    head_end, length = -1, None
    while head_end < 0 or length is None or len(data) < head_end + 4 + length:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            if head_end < 0:
                raise CallFailed('connection closed before an HTTP reply')
            return bytes(data[head_end + 4:])          # no Content-Length: up to EOF
        searched = max(0, len(data) - 3)
        data += chunk
        if len(data) > MAX_REPLY_BYTES:
            raise CallFailed(f'reply larger than {MAX_REPLY_BYTES >> 20} MiB')
        if len(data) >= 5 and not data.startswith(b'HTTP/'):
            raise CallFailed(f'not an HTTP reply: {bytes(data[:40])!r}')
        if head_end < 0:
            head_end = data.find(b'\r\n\r\n', searched)
            if head_end >= 0:
                head = bytes(data[:head_end])
                _check_status(head)
                length = _content_length(head)
    return bytes(data[head_end + 4:head_end + 4 + length])


def _content_length(head):
    for line in head.split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-length':
            try:
                return max(0, int(value.strip()))
            except ValueError:
                raise CallFailed('bad Content-Length') from None
    return None


def _check_status(head):
    status = head.split(b'\r\n', 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b'HTTP/'):
        raise CallFailed(f'not an HTTP reply: {head[:40]!r}')
    if status[1] != b'200':
        raise CallFailed(f'HTTP status {status[1][:10].decode("ascii", "replace")}')


def _address(sockaddr):
    """(ip, port) of a socket address as /proc/net/tcp reads (procfs.parse_address)."""
    return canonical_ip(ipaddress.ip_address(sockaddr[0].split('%')[0])), sockaddr[1]


def call(uri, method, *args, deadline_s, hold=None, shaped=True):
    """(code, status message, value) of one XML-RPC call, or CallFailed; with
    `shaped=False` whatever value the reply holds (roscpp's getBusStats answers
    another shape: model/nodestats.py).

    `hold(local, remote, deadline)`, if given, runs while the peer holds the connection
    open waiting for the request's last byte: the connection is then in the peer's fd
    table (system/targets.py proves who answers by it)."""
    host, port = split_uri(uri)
    body = xmlrpc.client.dumps((CALLER_ID, *args), method).encode()
    request = (f'POST /RPC2 HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: rostrace\r\n'
               f'Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n').encode()
    deadline = time.monotonic() + deadline_s
    try:
        with socket.create_connection((host, port), timeout=deadline_s) as sock:
            if hold:
                sock.sendall(request + body[:-1])
                hold(_address(sock.getsockname()), _address(sock.getpeername()), deadline)
                body = body[-1:]
                request = b''
            sock.sendall(request + body)
            reply = _read_reply(sock, deadline)
    except ConnectionRefusedError:
        raise CallFailed('connection refused', refused=True) from None
    except TimeoutError:
        raise CallFailed(f'no complete reply within the deadline ({deadline_s:g} s)') from None
    except (OSError, UnicodeError, ValueError) as e:
        raise CallFailed(f'{type(e).__name__}: {e}') from None
    try:
        (result,), _ = xmlrpc.client.loads(reply)
    except xmlrpc.client.Fault as e:
        raise CallFailed(f'fault: {str(e.faultString)[:100]}') from None
    except Exception as e:          # expat, ResponseError, shapes: the reply is garbage
        raise CallFailed(f'not an XML-RPC reply ({type(e).__name__})') from None
    if not shaped:
        return result
    if not (isinstance(result, (list, tuple)) and len(result) == 3
            and type(result[0]) is int):
        raise CallFailed(f'not a [code, message, value] reply: {result!r:.80}')
    return result


def _names(value):
    return isinstance(value, list) and all(isinstance(n, str) for n in value)


def _check_state(state):
    """getSystemState's [[topic, [nodes]] x3] or ValueError."""
    if not (isinstance(state, list) and len(state) == 3):
        raise ValueError('not three lists')
    for kind in state:
        if not isinstance(kind, list) or not all(
                isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and _names(e[1])
                for e in kind):
            raise ValueError('not [name, [node, ...]] entries')
    return state


class Master:
    """The few master API calls rostrace needs. `state_max_age_s`: how long one answer
    of getSystemState serves the calls that read it (0: every call asks)."""

    def __init__(self, uri=None, *, state_max_age_s=0.0, clock=time.monotonic):
        self.uri = uri or os.environ.get('ROS_MASTER_URI', 'http://localhost:11311')
        self.state_max_age_s = state_max_age_s
        self.clock = clock
        self._kept = (None, None)       # (when asked, checked system state)
        self.state_call_s = 0.0         # how long the last getSystemState took

    def _call(self, method, *args):
        try:
            return call(self.uri, method, *args, deadline_s=MASTER_DEADLINE_S)
        except CallFailed as e:
            raise MasterUnreachable(f'cannot reach the ROS master at {self.uri}: {e}',
                                    hint='start roscore or set ROS_MASTER_URI') from None

    def _state(self):
        asked, state = self._kept
        if state is not None and self.clock() - asked < self.state_max_age_s:
            return state
        started = self.clock()
        _, _, state = self._call('getSystemState')
        try:
            state = _check_state(state)
        except ValueError as e:
            raise MasterUnreachable(f'the ROS master at {self.uri} answered a malformed '
                                    f'system state ({e})') from None
        self.state_call_s = self.clock() - started
        self._kept = (started, state)
        return state

    def nodes(self):
        return sorted({n for kind in self._state() for _, names in kind for n in names})

    def lookup_node(self, node):
        code, _, uri = self._call('lookupNode', node)
        if code != 1:
            raise NodeNotFound(node, self.uri, self.nodes())
        return uri              # checked where it is used (split_uri)

    def topic_publishers(self, topics):
        """{topic: [publisher nodes]} for the given topics."""
        return {topic: sorted(names) for topic, names in self._state()[0] if topic in topics}

    def topic_types(self):
        """{topic: type} as the master knows them (malformed entries are left out)."""
        _, _, types = self._call('getTopicTypes')
        if not isinstance(types, list):
            return {}
        return {e[0]: e[1] for e in types if isinstance(e, list) and len(e) == 2
                and isinstance(e[0], str) and isinstance(e[1], str)}

    def topic_graph(self):
        """({topic: [publisher nodes]}, {topic: [subscriber nodes]})."""
        state = self._state()
        return ({t: sorted(n) for t, n in state[0]}, {t: sorted(n) for t, n in state[1]})

    def subscriptions(self, node):
        """Topics `node` subscribes to, as the master knows them."""
        return sorted(topic for topic, names in self._state()[1] if node in names)


class Node:
    """A node's slave API at `uri`; `name` is only for messages."""

    def __init__(self, uri, name=''):
        self.uri = uri
        self.name = name or uri

    def call(self, method, *args, hold=None):
        code, _, value = self._call(method, *args, hold=hold)
        return code, value

    def _call(self, method, *args, hold=None, shaped=True):
        try:
            return call(self.uri, method, *args, deadline_s=NODE_DEADLINE_S, hold=hold,
                        shaped=shaped)
        except CallFailed as e:
            if e.refused:
                raise ProcessGone(0, f'node at {self.uri} does not answer ({e})') from None
            raise BadPeer(self.name, f'{method} at {self.uri}: {e}') from None

    def bus_stats(self):
        """getBusStats's [publications, subscriptions, ...] (either client's reply
        shape: model/nodestats.py), or BadPeer."""
        value = bus_stats_value(self._call('getBusStats', shaped=False))
        if value is None:
            raise BadPeer(self.name, 'getBusStats answered no statistics')
        return value

    def bus_info(self):
        code, info = self.call('getBusInfo')
        if code != 1:
            raise BadPeer(self.name, f'getBusInfo answered code {code}')
        return info

    def pid(self, *, hold=None):
        """The node's PID in its own PID namespace (`hold`: see call())."""
        code, value = self.call('getPid', hold=hold)
        if code != 1 or type(value) is not int or not 0 < value < 1 << 22:
            raise BadPeer(self.name, f'getPid answered {value!r:.80} (code {code})')
        return value

    def topics(self, method):
        """Topic names of getSubscriptions / getPublications; empty when the node does
        not answer or answers nonsense."""
        try:
            code, value = self.call(method)
        except (ProcessGone, BadPeer):
            return set()
        if code != 1 or not isinstance(value, list):
            return set()
        return {e[0] for e in value if isinstance(e, list) and len(e) == 2
                and isinstance(e[0], str) and len(e[0]) <= 1024}

    def subscriptions(self):
        return self.topics('getSubscriptions')

    def publications(self):
        return self.topics('getPublications')
