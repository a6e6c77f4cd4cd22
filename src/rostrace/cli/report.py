"""Write an HTML latency report from bags recorded from /rostrace/latency.

Prints a plain-text summary per topic (with its dominant stage) on stdout.
"""
import sys

from ..output.report import html_report, load_bags, text_summary

EPILOG = '''examples:
  rosbag record -O run.bag /rostrace/latency /diagnostics     (while the monitor runs)
  rostrace report run.bag -o report.html'''


def add_arguments(p):
    p.add_argument('bags', nargs='+', metavar='BAG', help='bag files with LatencyBreakdown')
    p.add_argument('-o', '--output', default='report.html', help='HTML file (default report.html)')


def run(args):
    series = load_bags(args.bags)
    for line in text_summary(series):
        print(line)
    with open(args.output, 'w') as f:
        f.write(html_report(series, sources=args.bags))
    print(f'report: {args.output} ({len(series)} topics)', file=sys.stderr)
    return 0
