"""A receiving socket's addresses as tcp:tcp_probe reports them (struct rx_tuple)."""
import socket

from rostrace.probes.connection_maps import receive_tuple


def test_ipv4_is_mapped_into_ipv6_and_ports_stay_in_host_order():
    t = receive_tuple((('127.0.0.1', 40000), ('10.0.0.2', 11311)))
    assert bytes(t.laddr) == b'\0' * 10 + b'\xff\xff' + socket.inet_aton('127.0.0.1')
    assert bytes(t.raddr) == b'\0' * 10 + b'\xff\xff' + socket.inet_aton('10.0.0.2')
    assert (t.lport, t.rport) == (40000, 11311)


def test_ipv6_as_is_and_mapped_equals_plain_ipv4():
    t = receive_tuple((('::1', 1), ('fe80::1', 2)))
    assert bytes(t.laddr) == socket.inet_pton(socket.AF_INET6, '::1')
    assert bytes(t.raddr) == socket.inet_pton(socket.AF_INET6, 'fe80::1')
    mapped = receive_tuple((('::ffff:127.0.0.1', 5), ('::ffff:127.0.0.1', 6)))
    plain = receive_tuple((('127.0.0.1', 5), ('127.0.0.1', 6)))
    assert bytes(mapped) == bytes(plain)
