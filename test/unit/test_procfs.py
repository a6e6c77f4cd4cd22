"""/proc parsing from fixture text, and its errors translated in one place."""
import pytest

from rostrace.errors import ProcEntryMissing, ProcessGone
from rostrace.system.procfs import (ProcFS, parse_connection_inode, parse_maps, parse_nspid,
                                    parse_stat)

MAPS = """\
55d0c0000000-55d0c0001000 r--p 00000000 fd:01 1234 /usr/lib/rostrace/processing
7f0000000000-7f0000100000 r-xp 0004e000 fd:01 5678 /usr/lib/x86_64-linux-gnu/libroscpp.so.1.15.15
7f0000200000-7f0000201000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
"""

STATUS = "Name:\tprocessing\nTgid:\t4242\nNSpid:\t4242\t7\n"

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:A0F1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1
   1: 0100007F:A0F1 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 222 1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1
"""


def test_maps_keeps_file_backed_mappings():
    maps = parse_maps(MAPS)
    assert [m.path for m in maps] == ['/usr/lib/rostrace/processing',
                                      '/usr/lib/x86_64-linux-gnu/libroscpp.so.1.15.15']
    assert maps[1].offset == 0x4e000 and maps[1].perms == 'r-xp'


def test_nspid_chain():
    assert parse_nspid(STATUS) == [4242, 7]
    assert parse_nspid('Name:\tx\n') is None


def test_connection_inode_by_address_pair():
    server, client = ('127.0.0.1', 0xA0F1), ('127.0.0.1', 0xC350)
    assert parse_connection_inode(TCP, server, client) == 222
    assert parse_connection_inode(TCP, client, server) is None      # the other end
    assert parse_connection_inode(TCP.replace(' 222 ', ' 0 '), server, client) == 0
    closed = TCP.replace(' 222 ', ' 0 ').replace('C350 01 ', 'C350 04 ')     # FIN_WAIT1
    assert parse_connection_inode(closed, server, client) == -1


def test_stat_state_and_start_time_past_a_hostile_comm():
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    stat = '4242 (a) b (c) S 1 4242 4242 0 -1 4194560 ' + ' '.join(['0'] * 12) + ' 987654 0'
    assert parse_stat(stat) == ('S', 4194560, 987654)


def test_pid_candidates_and_connections_from_fixture_tree(tmp_path):
    # pid 4242 on the host is pid 7 in its namespace; host pid 7 is unrelated.
    for pid, status, inode in ((4242, STATUS, 111), (7, 'Name:\tother\nNSpid:\t7\n', 999)):
        d = tmp_path / str(pid)
        (d / 'net').mkdir(parents=True)
        (d / 'fd').mkdir()
        (d / 'status').write_text(status)
        (d / 'net' / 'tcp').write_text(TCP)
        (d / 'fd' / '3').symlink_to(f'socket:[{inode}]')
    procfs = ProcFS(str(tmp_path))
    assert procfs.pid_candidates(7) == [7, 4242]
    assert procfs.connection_inode(4242, ('127.0.0.1', 0xA0F1), ('127.0.0.1', 0xC350)) == 222


def test_a_missing_file_of_a_live_process_is_not_a_gone_process(tmp_path):
    (tmp_path / '4242' / 'net').mkdir(parents=True)
    (tmp_path / '4242' / 'net' / 'tcp').write_text(TCP)       # no tcp6: IPv6 off
    (tmp_path / '4242' / 'fd').mkdir()
    procfs = ProcFS(root=str(tmp_path))
    with pytest.raises(ProcEntryMissing):
        procfs.read(4242, 'net', 'tcp6')
    with pytest.raises(ProcessGone):
        procfs.read(4243, 'net', 'tcp')
    assert set(procfs.tcp_connections(4242)) == {222}          # tcp read, tcp6 skipped
    assert procfs.listening_ports(4242) == []                  # owns none of the sockets
    with pytest.raises(ProcessGone):
        procfs.listening_ports(4243)
