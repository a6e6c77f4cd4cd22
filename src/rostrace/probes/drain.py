"""Emptying the window's BPF hash maps, once per window, at a cost that follows what
they hold. BCC's items_lookup_and_delete_batch() allocates max_entries keys and values
on every call and builds a ctypes object per entry; a thousand traced topics fill tens
of thousands of histogram entries a window. Here each map gets its buffers once, the
kernel fills them in one BPF_MAP_LOOKUP_AND_DELETE_BATCH, and the bytes are read with
`struct` into named tuples with the fields of the abi.py structs (histograms: their
nonzero counts, found with numpy). The maps are drained
one after another and their bytes copied out, so all of them share one pair of buffers
(the largest map's size): per map, both generations' maps held ~38 MiB of them."""
import collections
import ctypes
import errno
import functools
import os
import struct

import numpy

from . import abi

_FORMATS = {ctypes.c_uint32: 'I', ctypes.c_uint64: 'Q', ctypes.c_uint8: 'B'}


def _flat(ctype):
    """A struct of scalar fields (abi.py) -> (struct.Struct, namedtuple type)."""
    names = [name for name, _ in ctype._fields_]
    layout = struct.Struct('<' + ''.join(_FORMATS[t] for _, t in ctype._fields_))
    if layout.size != ctypes.sizeof(ctype):
        raise ValueError(f'{ctype.__name__}: fields do not cover the struct')
    return layout, collections.namedtuple(ctype.__name__, names)


STAT_KEY = _flat(abi.StatKey)
HIST_KEY = _flat(abi.HistKey)
OBJECT_KEY = _flat(abi.ObjectKey)
STAT_VAL = _flat(abi.StatVal)


class Buffers:
    """Byte buffers shared by Drains that take() one at a time (one thread): each grows
    to the largest size asked of it."""

    def __init__(self):
        self._held = {}             # slot -> ctypes buffer

    def get(self, slot, size):
        held = self._held.get(slot)
        if held is None or len(held) < size:
            held = self._held[slot] = ctypes.create_string_buffer(size)
        return held


class Drain:
    """One BPF hash map (a BCC table), emptied by take() into `buffers`."""

    def __init__(self, table, lib, buffers):
        self._lib = lib
        self._buffers = buffers
        self.fd = table.map_fd
        self.key_type = table.Key
        self.key_size = ctypes.sizeof(table.Key)
        self.value_size = ctypes.sizeof(table.Leaf)
        self.capacity = table.max_entries
        self.taken = 0              # entries the last take() read

    def take(self):
        """(keys, values): the bytes of every entry the map held, which is left empty."""
        keys = self._buffers.get('keys', self.key_size * self.capacity)
        values = self._buffers.get('values', self.value_size * self.capacity)
        token, count, total = ctypes.c_uint32(0), ctypes.c_uint32(0), 0
        while total < self.capacity:
            count.value = self.capacity - total
            failed = self._lib.bpf_lookup_and_delete_batch(
                self.fd, ctypes.byref(token) if total else None, ctypes.byref(token),
                ctypes.byref(keys, self.key_size * total),
                ctypes.byref(values, self.value_size * total), ctypes.byref(count))
            code = ctypes.get_errno()
            total += count.value
            if failed and code != errno.ENOENT and total == 0:
                raise OSError(code, f'BPF_MAP_LOOKUP_AND_DELETE_BATCH: {os.strerror(code)}')
            # Failed after reading some: what was read is returned; the rest stays in
            # this generation's map and is read with it two windows later.
            if failed or count.value == 0:     # ENOENT: the whole map was read
                break
        self.taken = total
        return (ctypes.string_at(keys, self.key_size * total),
                ctypes.string_at(values, self.value_size * total))


def unpack(data, flat):
    """Rows of `data` as the named tuples of `flat` (tuple.__new__ straight from the
    unpacked tuples: no Python frame per row, tens of thousands of rows a window)."""
    layout, row = flat
    return list(map(functools.partial(tuple.__new__, row), layout.iter_unpack(data)))


def stat_rows(drain):
    keys, values = drain.take()
    return list(zip(unpack(keys, STAT_KEY), unpack(values, STAT_VAL)))


def histograms(drain):
    """{owner: {bucket: count}} of a histogram map (struct hist_key or link_hist_key):
    its entries' nonzero counts per owner, the key's fields but its group (tgid, record,
    object; or a link's fields and record). A thousand topics' window holds tens of
    thousands of entries of HIST_GROUP counts, most of them zero: numpy finds the
    nonzero ones, so the Python work follows the samples' distinct buckets."""
    keys, values = drain.take()
    key_type = numpy.dtype(drain.key_type)
    rows = numpy.frombuffer(keys, dtype=key_type)
    counts = numpy.frombuffer(values, dtype='<u4').reshape(len(rows), abi.HIST_GROUP)
    entry, offset = counts.nonzero()
    buckets = (rows['group'][entry].astype(numpy.int64) * abi.HIST_GROUP + offset).tolist()
    taken = rows[entry]
    owners = zip(*(_field(taken, path).tolist() for path in _owner_fields(key_type)))
    out = {}
    for owner, bucket, n in zip(owners, buckets, counts[entry, offset].tolist()):
        held = out.get(owner)
        if held is None:
            out[owner] = {bucket: n}
        else:
            held[bucket] = held.get(bucket, 0) + n
    return out


def _owner_fields(dtype, prefix=()):
    """Paths to the scalar fields of a (nested) struct dtype, but its group and pad."""
    out = []
    for name in dtype.names:
        if dtype[name].names:
            out += _owner_fields(dtype[name], prefix + (name,))
        elif name not in ('group', 'pad'):
            out.append(prefix + (name,))
    return out


def _field(rows, path):
    for name in path:
        rows = rows[name]
    return rows


def queue_rows(drain):
    """[(ObjectKey, bytes of struct queue_stats)] (decode._queue_records reads them)."""
    keys, values = drain.take()
    size = drain.value_size
    return list(zip(unpack(keys, OBJECT_KEY),
                    (values[i:i + size] for i in range(0, len(values), size))))


LINK_KEY = _flat(abi.LinkKey)
_STAT = struct.Struct('<4Q')        # struct stat_val: count, sum_ns, min_ns, max_ns


def link_stat_rows(drain):
    """[(LinkKey row, [(count, sum_ns, min_ns, max_ns) per link record])]: one link per
    traced topic and publisher, so a thousand of them a window."""
    keys, values = drain.take()
    records = len(abi.LinkStats().rec)
    stats = list(_STAT.iter_unpack(values))
    return list(zip(unpack(keys, LINK_KEY),
                    (stats[i:i + records] for i in range(0, len(stats), records))))


class Items:
    """A map's entries read one by one ([(key, value)] of the ctypes types `key_type`,
    `value_type`: kernels without batch operations), shaped like a Drain for the row
    readers above."""

    def __init__(self, items, key_type, value_type):
        self._items = items
        self.taken = len(items)
        self.key_type = key_type
        self.key_size = ctypes.sizeof(key_type)
        self.value_size = ctypes.sizeof(value_type)

    def take(self):
        return (b''.join(bytes(k) for k, _ in self._items),
                b''.join(bytes(v) for _, v in self._items))
