"""Kernel link tables read as flat rows (probes/drain.py) and decoded (model/decode.py):
the bytes of the abi.py structs, as a batch read or entry by entry, give the same links."""

from rostrace.model.decode import decode_links
from rostrace.model.matching import LinkId
from rostrace.probes import abi, drain


def _tables():
    key = abi.LinkKey(sub_tgid=20, pub_tgid=10, queue=0x5000, publication=0x6000, intra=0,
                      path=0)
    stats = abi.LinkStats()
    stats.rec[abi.LINK_MESSAGES].count = 7
    stats.rec[abi.LINK_DROPPED].sum_ns = 2
    transport = stats.rec[abi.LINK_TRANSPORT]
    transport.count, transport.sum_ns, transport.min_ns, transport.max_ns = 7, 7000, 900, 1100
    hist_key = abi.LinkHistKey(link=key, record=abi.LINK_TRANSPORT, group=0)
    group = abi.HistGroup()
    group.n[10] = 7                     # bucket 10: 512..1023 ns
    return [(key, stats)], [(hist_key, group)]


def _rows(items, key_type, value_type, reader):
    return reader(drain.Items(items, key_type, value_type))


def test_links_read_from_the_kernels_bytes():
    stats, hists = _tables()
    links = decode_links(_rows(stats, abi.LinkKey, abi.LinkStats, drain.link_stat_rows),
                         _rows(hists, abi.LinkHistKey, abi.HistGroup, drain.histograms))
    link = links[LinkId(10, 0x6000, 20, 0x5000, False, False)]
    assert (link.messages, link.dropped) == (7, 2)
    transport = link.stages['transport']
    assert (transport.count, transport.sum_ns, transport.min_ns, transport.max_ns) == (
        7, 7000, 900, 1100)
    assert transport.buckets == {10: 7}
    assert link.stages['end_to_end'].count == 0
