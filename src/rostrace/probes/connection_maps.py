"""TCP connections registered in the kernel (transport.c, sockets.c): both ends' ids,
the receiving socket's addresses and its byte counts. Written by user space only."""
import ctypes
import ipaddress

from . import abi


class ConnectionMaps:
    def __init__(self, bpf):
        self.bpf = bpf
        self._conn_id = 0        # the last connection id given to the kernel (conn_ids)
        self._ids = {}           # addresses -> the id they were registered with
        self._own_state = set()  # addresses whose receiving state someone else keeps

    def register(self, subscriber, publisher, addresses, *, own_state=False):
        """Both ends of one TCP connection, (pid, fd) each, and the subscriber's
        (local, remote) addresses: from now on the kernel matches its messages
        (transport.c) and sees when they reach the subscriber's socket (sockets.c).
        The subscriber's end is written first, so a message is matched by the kernel
        only once its send was recorded there. `own_state`: the subscriber's socket
        state (rx_states, rx_tuples) is someone else's to write and remove (rospy)."""
        self._conn_id += 1
        self._ids[addresses] = self._conn_id
        ids = self.bpf[b'conn_ids']
        sub_key = abi.SockKey(tgid=subscriber[0], fd=subscriber[1])
        if own_state:
            self._own_state.add(addresses)
        else:
            states = self.bpf[b'rx_states']
            states[sub_key] = states.Leaf()         # byte counts start at zero
            self.bpf[b'rx_tuples'][receive_tuple(addresses)] = sub_key
        self.bpf[b'conn_receivers'][ctypes.c_uint(self._conn_id)] = sub_key
        for pid, fd in (subscriber, publisher):
            ids[abi.SockKey(tgid=pid, fd=fd)] = ctypes.c_uint(self._conn_id)

    def unregister(self, subscriber, publisher, addresses):
        """Take out what register() wrote for these addresses. An end whose fd now
        belongs to a newer registration (the fd was closed and reused by another
        connection) keeps the newer one's entries."""
        conn = self._ids.pop(addresses, None)
        ids = self.bpf[b'conn_ids']
        if conn is not None:
            delete(self.bpf[b'conn_receivers'], ctypes.c_uint(conn))
        sub_key = abi.SockKey(tgid=subscriber[0], fd=subscriber[1])
        sub_current = _value(ids, sub_key) == conn
        for pid, fd in (subscriber, publisher):
            key = abi.SockKey(tgid=pid, fd=fd)
            if conn is None or _value(ids, key) == conn:
                delete(ids, key)
        if addresses in self._own_state:
            self._own_state.discard(addresses)
            return
        delete(self.bpf[b'rx_tuples'], receive_tuple(addresses))
        if conn is None or sub_current:
            delete(self.bpf[b'rx_states'], sub_key)


def _value(table, key):
    try:
        return table[key].value
    except KeyError:
        return None


def receive_tuple(addresses):
    """struct rx_tuple of a receiving socket's ((local ip, port), (remote ip, port))."""
    (lip, lport), (rip, rport) = addresses
    t = abi.RxTuple(lport=lport, rport=rport)
    for field, ip in (('laddr', lip), ('raddr', rip)):
        address = ipaddress.ip_address(ip)
        if address.version == 4:
            address = ipaddress.IPv6Address(b'\0' * 10 + b'\xff\xff' + address.packed)
        ctypes.memmove(getattr(t, field), address.packed, 16)
    return t


def delete(table, key):
    try:
        del table[key]
    except KeyError:
        pass
