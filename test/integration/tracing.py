"""Run `rostrace trace --json` against scenario nodes and read what it printed."""
import time

from harness import json_lines, read_log, wait_for


def start_trace(ros, *args, name='rostrace'):
    proc = ros.rostrace('trace', '--json', *args, name=name)
    wait_for(lambda: 'Tracing' in read_log(proc) or proc.poll() is not None,
             timeout=60, what='rostrace to attach')
    assert proc.poll() is None, read_log(proc)
    return proc


def stop_trace(ros, proc):
    rc = ros.stop(proc)
    assert rc == 0, read_log(proc)
    return json_lines(read_log(proc))


def topic_windows(reports, topic):
    return [t for r in reports for t in r['topics'] if t['topic'] == topic]


def combined(windows, stage):
    """Count and mean of a stage over several windows."""
    count = sum(w['stages'][stage]['count'] for w in windows)
    total = sum(w['stages'][stage]['mean'] * w['stages'][stage]['count'] for w in windows)
    return count, (total / count if count else 0.0)


def settle(seconds=0.3):
    time.sleep(seconds)
