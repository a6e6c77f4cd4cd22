"""Breakdowns as lines of text for a terminal (under 100 columns). [pure]"""


def human(seconds):
    """A duration in the unit that suits it: 850ns, 12.3us, 4.56ms, 1.20s."""
    if seconds < 1e-6:
        return f'{seconds * 1e9:.0f}ns'
    if seconds < 1e-3:
        return f'{seconds * 1e6:.1f}us'
    if seconds < 1.0:
        return f'{seconds * 1e3:.2f}ms'
    return f'{seconds:.2f}s'


def _cell(stage):
    if not stage.available:
        return 'n/a'
    if not stage.count:
        return '-'
    return f'{human(stage.mean)}/{human(stage.p99)}'


HEADER = (f'{"node":<22} {"topic":<18} {"rate":>6} {"drop":>5}  '
          f'{"queuing":>15} {"deser":>15} {"processing":>15}')


def table(breakdowns):
    """One row per topic: mean/p99 per stage; '*' marks the dominant stage."""
    lines = [HEADER, '-' * len(HEADER)]
    for b in breakdowns:
        dominant = b.dominant_stage()
        cells = []
        for name in ('queuing', 'deserialization', 'processing'):
            text = _cell(b.stages[name]) + ('*' if name == dominant else ' ')
            cells.append(f'{text:>15}')
        rate = b.received / b.window_s if b.window_s else 0.0
        lines.append(f'{b.node[-22:]:<22} {b.topic[-18:]:<18} {rate:>6.1f} {b.dropped:>5}  '
                     + ' '.join(cells))
    return lines
