"""Paths and the dataflow graph from a Window (pure): routes, hops, DOT quoting."""
from rostrace.model.graph import dot, from_window, text
from rostrace.model.histogram import Accumulator
from rostrace.model.numbers import (CauseKey, LinkKey, LinkNumbers, PathKey, TopicKey,
                                    TopicNumbers, Window)
from rostrace.model.paths import build_paths, route, route_nodes

NAMES = {1: '/src', 2: '/A', 3: '/B', 4: '/sink', 5: '/B2'}


def acc(*values_ms):
    a = Accumulator()
    for v in values_ms:
        a.add_value(int(v * 1e6))
    return a


def link(n, e2e_ms, transport_ms=0.3):
    return LinkNumbers(messages=n, stages={'end_to_end': acc(*[e2e_ms] * n),
                                           'transport': acc(*[transport_ms] * n)})


def chain_window():
    w = Window(window_s=1.0)
    w.topics[TopicKey(2, '/a')] = TopicNumbers(processed=3, links={LinkKey(1, False): link(3, 5)})
    w.topics[TopicKey(3, '/b')] = TopicNumbers(processed=3, links={LinkKey(2, False): link(3, 10)})
    w.topics[TopicKey(5, '/b')] = TopicNumbers(processed=3, links={LinkKey(2, False): link(3, 2)})
    w.topics[TopicKey(4, '/c')] = TopicNumbers(processed=3, links={LinkKey(3, False): link(3, 1)})
    w.causes = {CauseKey(2, '/a', '/b'): 3, CauseKey(3, '/b', '/c'): 3}
    w.paths = {PathKey(1, '/a', 4, '/c'): LinkNumbers(messages=3,
                                                      stages={'end_to_end': acc(16, 16, 17)}),
               PathKey(1, '/a', 3, '/b'): LinkNumbers(messages=3,
                                                      stages={'end_to_end': acc(15, 15, 15)})}
    return w


def test_route_follows_links_and_causes_to_the_final_process():
    w = chain_window()
    assert route(w, '/a', '/c', 4) == [(1, 2, '/a'), (2, 3, '/b'), (3, 4, '/c')]
    assert route(w, '/a', '/b', 5) == [(1, 2, '/a'), (2, 5, '/b')]
    assert route(w, '/c', '/a', 2) is None


def test_path_numbers_hops_and_worst_hop():
    (path,) = build_paths(chain_window(), NAMES.get, wanted=[('/a', '/c')])
    assert (path.count, path.node) == (3, '/sink')
    assert abs(path.stages['end_to_end'].mean - 0.016333) < 1e-5
    assert [h.node for h in path.hops] == ['/A', '/B', '/sink']
    assert path.worst_hop.node == '/B'
    assert path.as_dict()['worst_hop'] == 1


def test_a_path_never_followed_says_so_instead_of_a_number():
    (path,) = build_paths(chain_window(), NAMES.get, wanted=[('/x', '/c')])
    assert not path.stages['end_to_end'].available and path.note


def test_every_followed_path_without_a_wish_list():
    found = {(p.source, p.destination) for p in build_paths(chain_window(), NAMES.get)}
    assert found == {('/a', '/c'), ('/a', '/b')}


def test_route_nodes_from_the_masters_graph():
    publishers = {'/a': ['/src'], '/b': ['/A'], '/c': ['/B'], '/x': ['/X']}
    subscribers = {'/a': ['/A'], '/b': ['/B', '/B2'], '/c': ['/sink'], '/x': ['/A']}
    assert route_nodes(publishers, subscribers, '/a', '/c') == ['/A', '/B', '/sink']
    assert route_nodes(publishers, subscribers, '/c', '/a') == []


def test_graph_text_and_dot_quote_names():
    w = chain_window()
    w.causes[CauseKey(3, '/b', '/s"x')] = 1
    g = from_window(w, NAMES.get)
    assert '/A --/b--> /B: 3.0 msg/s, transport 0.30 ms, end-to-end 10.00 ms' in text(g)
    drawing = dot(g)
    assert '"t:/s\\"x"' in drawing and drawing.count('{') == drawing.count('}')
