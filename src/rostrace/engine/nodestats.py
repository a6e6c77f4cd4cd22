"""The overhead budget's `stats` mode: the node's own counters instead of probes
(model/nodestats.py). A thread per node asks it (getBusStats, then getBusInfo) when a
window ends; a slow or hostile node delays only its own numbers, and a window waits for
the answers at most ANSWER_WAIT_S. Each ask costs the node two slave-API answers
(46 + 38 us of a roscpp node's CPU here, mean of 500 calls each), whatever its rate."""
import threading
import time

from ..errors import BadPeer, ProcessGone
from ..model.nodestats import CounterDeltas, TopicCounts
from ..system.rosapi import Node

ANSWER_WAIT_S = 0.2
RETRY_S = 60.0          # a node whose statistics failed is not counted so again before


class _Asker:
    """One node: asked on demand, counts kept until taken."""

    def __init__(self, target):
        self.node = Node(target.uri, target.node)
        self.deltas = CounterDeltas()
        self.asked = threading.Event()
        self.answered = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.counts = {}            # topic -> TopicCounts not taken yet
        self.error = None           # the last answer refused (text), or None
        self.uncountable = ()       # topics roscpp cannot count (several publishers)
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f'rostrace-stats-{target.pid}')
        self.thread.start()

    def _run(self):
        self._ask()                 # the baseline
        while not self.stopping.is_set():
            self.asked.wait()
            self.asked.clear()
            self._ask()             # the last one after stopping: its counts are kept

    def _ask(self):
        try:
            stats = self.node.bus_stats()
            info = self.node.bus_info()
        except (BadPeer, ProcessGone, OSError) as e:
            with self.lock:
                self.error = str(e)
        else:
            with self.lock:
                for topic, c in self.deltas.update(stats, info).items():
                    self.counts.setdefault(topic, TopicCounts()).add(c)
                self.error = None
                self.uncountable = self.deltas.uncountable
        self.answered.set()

    def take(self):
        with self.lock:
            counts, self.counts = self.counts, {}
        return counts


class NodeCounters:
    """The nodes counted by their own statistics, by pid."""

    def __init__(self):
        self._askers = {}           # pid -> _Asker
        self._left = {}             # pid -> counts of a stopped asker, not taken yet
        self._failed = {}           # pid -> (when, why) its statistics last failed

    def start(self, target):
        """Count `target` from now on; returns once its baseline is taken (or
        ANSWER_WAIT_S passed)."""
        if target.pid not in self._askers:
            asker = self._askers[target.pid] = _Asker(target)
            asker.answered.wait(ANSWER_WAIT_S)

    def stop(self, pid):
        """Stop counting `pid` (a last ask, waited for ANSWER_WAIT_S, ends its counts)."""
        why = self.problem(pid)
        asker = self._askers.pop(pid, None)
        if asker is None:
            return
        if why:
            self._failed[pid] = (time.monotonic(), why)
        asker.stopping.set()
        asker.answered.clear()
        asker.asked.set()
        asker.answered.wait(ANSWER_WAIT_S)
        self._left[pid] = asker.take()

    def counting(self, pid):
        return pid in self._askers

    def problem(self, pid):
        """Why `pid` cannot be counted this way now (or, for RETRY_S after it failed,
        again), or None."""
        asker = self._askers.get(pid)
        if asker is None:
            failed = self._failed.get(pid)
            return failed[1] if failed and time.monotonic() - failed[0] < RETRY_S else None
        with asker.lock:
            if asker.error:
                return f'its statistics are not readable: {asker.error}'[:300]
            if asker.uncountable:
                shown = ', '.join(asker.uncountable[:3])
                return (f'roscpp reports one publisher of topics with several ({shown}): '
                        f'its statistics cannot count them')[:300]
        return None

    def ask(self):
        """A window ends: every node is asked for its counters."""
        for asker in self._askers.values():
            asker.answered.clear()
            asker.asked.set()

    def take(self):
        """{pid: {topic: TopicCounts}} since the last take (answers to ask() that came
        within ANSWER_WAIT_S; later ones count in the next window)."""
        deadline = time.monotonic() + ANSWER_WAIT_S
        out, self._left = self._left, {}
        for pid, asker in self._askers.items():
            asker.answered.wait(max(0.0, deadline - time.monotonic()))
            for topic, c in asker.take().items():
                out.setdefault(pid, {}).setdefault(topic, TopicCounts()).add(c)
        return out

    def close(self):
        for pid in list(self._askers):
            asker = self._askers.pop(pid)
            asker.stopping.set()
            asker.asked.set()
