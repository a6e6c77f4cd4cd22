"""Write an HTML latency report from bags recorded from /rostrace/latency.

Prints a plain-text summary per topic (with its dominant stage) on stdout.
"""
import sys

from ..output.objects_report import objects_summary
from ..output.report import html_report, load_bags, text_summary

EPILOG = '''examples:
  rosbag record -O run.bag /rostrace/latency /rostrace/timers /rostrace/services /rostrace/tf
                /rostrace/actions
                                                           (while the monitor runs)
  rostrace report run.bag -o report.html'''


def add_arguments(p):
    p.add_argument('bags', nargs='+', metavar='BAG', help='bag files with LatencyBreakdown')
    p.add_argument('-o', '--output', default='report.html', help='HTML file (default report.html)')


def run(args):
    objects = {}                    # timers and services, when recorded too
    series = load_bags(args.bags, objects)
    for w in objects.values():
        w.sort(key=lambda window: window['stamp'])
    for line in text_summary(series) + objects_summary(objects):
        print(line)
    with open(args.output, 'w') as f:
        f.write(html_report(series, sources=args.bags, objects=objects))
    print(f'report: {args.output} ({len(series)} topics, {len(objects)} timers and services)',
          file=sys.stderr)
    return 0
