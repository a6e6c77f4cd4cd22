"""The last windows, merged over a configured duration (the monitor's `window`). [pure]"""
import collections

from .numbers import Window


class WindowHistory:
    """Keeps the newest windows that together cover `window_s` (at least one)."""

    def __init__(self):
        self._windows = collections.deque()

    def add(self, window, *, window_s):
        """Add the newest Window; return all kept windows merged into a new one (or the
        newest itself when it alone covers `window_s`; Windows are not changed later)."""
        self._windows.append(window)
        kept, covered = collections.deque(), 0.0
        for w in reversed(self._windows):
            if kept and covered + w.window_s > window_s * 1.001:
                break
            kept.appendleft(w)
            covered += w.window_s
        self._windows = kept
        if len(kept) == 1:          # the window is one period (the default): as it is
            return window
        merged = Window(window_s=0.0)
        for w in kept:
            merged.merge(w)
        return merged

    def __len__(self):
        return len(self._windows)
