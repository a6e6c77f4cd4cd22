"""engine/nodelets.py reads a nodelet's name from untrusted memory: the layout is found by
scanning and checked; garbage gives no name. (Memory here is a dict of bytes; the real
reading is in test/integration/test_nodelets.py.)"""
import struct

from rostrace.engine.nodelets import NODELET_NAME_OFFSET, Nodelets


class Memory:
    def __init__(self):
        self.bytes = {}

    def put(self, address, data):
        for i, b in enumerate(data):
            self.bytes[address + i] = b

    def read_memory(self, pid, address, size):
        out = bytearray()
        for a in range(address, address + size):
            if a not in self.bytes:
                break
            out.append(self.bytes[a])
        return bytes(out)


class Point:
    path = '/lib/libnodeletlib.so'


class Target:
    nodelet_point = Point()


def manager(name, *, tracked=360, flag=1):
    mem = Memory()
    queue, nodelet, text = 0x10000, 0x20000, 0x30000
    mem.put(queue, bytes(512))
    mem.put(queue + tracked, struct.pack('<QQ', nodelet, 0x40000) + bytes([flag]))
    mem.put(nodelet + NODELET_NAME_OFFSET, struct.pack('<QQ', text, len(name)))
    mem.put(text, name)
    nodelets = Nodelets(mem, program=None)
    nodelets._managers[7] = Target()
    return nodelets, queue


def test_the_name_behind_the_tracked_object():
    nodelets, queue = manager(b'/camera/rectify')
    assert nodelets._read_name(7, queue) == '/camera/rectify'
    assert nodelets._offsets[Point.path] == 360


def test_no_name_from_garbage():
    for name in (b'not a name', b'/ok\x00zero', b'/' + b'a' * 300, b'\xff\xfe'):
        nodelets, queue = manager(name)
        assert nodelets._read_name(7, queue) is None, name
    nodelets, queue = manager(b'/fine', flag=0)         # has_tracked_object_ not set
    assert nodelets._read_name(7, queue) is None
