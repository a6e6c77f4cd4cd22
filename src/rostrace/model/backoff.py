"""When to try a failing peer again. [pure]"""

class Backoff:
    """When to try a failing target again: 1 s, 2 s, 4 s ... 30 s after each failure."""

    FIRST_S, MAX_S = 1.0, 30.0

    def __init__(self, clock):
        self.clock = clock
        self._next = {}             # node -> (delay_s, next try)

    def due(self, node):
        return self.clock() >= self._next.get(node, (0.0, 0.0))[1]

    def failed(self, node):
        delay = min(self._next.get(node, (self.FIRST_S / 2, 0.0))[0] * 2, self.MAX_S)
        self._next[node] = (delay, self.clock() + delay)

    def succeeded(self, node):
        self._next.pop(node, None)

    def keep(self, nodes):
        """Forget the nodes no longer wanted (patterns over short-lived nodes)."""
        self._next = {n: v for n, v in self._next.items() if n in nodes}
