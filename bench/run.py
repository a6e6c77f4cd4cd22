"""`make bench`: the sections measuring rostrace's cost, accuracy and scale.

Writes bench/results/*.json, bench/results/RESULTS.md and PNG plots, and prints the
tables. Every figure is the median of several interleaved runs with min–max.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'test'))

from harness import RosSystem  # noqa: E402

from bench import sections  # noqa: E402
from bench.measure import machine  # noqa: E402
from bench.report import write_results  # noqa: E402

RESULTS = os.path.join(HERE, 'results')


def main():
    os.makedirs(RESULTS, exist_ok=True)
    started = time.monotonic()
    ros = RosSystem().start()
    os.environ['ROS_MASTER_URI'] = ros.master_uri
    results = {'machine': machine()}
    try:
        bench = sections.Bench(ros)
        only = [n for n in os.environ.get('BENCH_ONLY', '').split(',') if n]
        only += [sections.NEEDS[n] for n in only if n in sections.NEEDS]
        for name, fn in sections.SECTIONS:
            if only and name not in only:
                continue
            t0 = time.monotonic()
            print(f'bench: {name}...', flush=True)
            results[name] = fn(bench)
            print(f'bench: {name} done in {time.monotonic() - t0:.0f} s', flush=True)
            with open(os.path.join(RESULTS, f'{name}.json'), 'w') as f:
                json.dump({'machine': results['machine'], 'date': time.strftime('%Y-%m-%d'),
                           'alone': bool(only), name: results[name]}, f, indent=1)
        bench.close()
    finally:
        ros.shutdown()
    results['duration_s'] = round(time.monotonic() - started, 1)
    if only:                    # the other sections as their last full or partial run left them
        try:
            with open(os.path.join(RESULTS, 'all.json')) as f:
                results['duration_s'] = json.load(f).get('duration_s')    # the full run's
        except (OSError, ValueError):
            results['duration_s'] = None
        results['rerun'] = {name: time.strftime('%Y-%m-%d')
                            for name, _ in sections.SECTIONS if name in results}
        for name, _ in sections.SECTIONS:
            path = os.path.join(RESULTS, f'{name}.json')
            if name not in results and os.path.exists(path):
                with open(path) as f:
                    kept = json.load(f)
                results[name] = kept[name]
                if kept.get('alone'):
                    results['rerun'][name] = kept['date']
    print(write_results(results, RESULTS))
    return 0


if __name__ == '__main__':
    sys.exit(main())
