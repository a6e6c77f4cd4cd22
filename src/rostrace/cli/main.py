"""`rostrace` entry point: one place that turns errors into a message and exit code."""
import argparse
import signal
import sys

from ..errors import RostraceError
from . import capture, doctor, graph, path, report, trace

VERBS = {'trace': trace, 'path': path, 'graph': graph, 'capture': capture,
         'report': report, 'doctor': doctor}

EPILOG = '''examples:
  rostrace trace --node /processing_delay_node --topic /slow_topic
  rostrace trace --node /listener --interval 5 --duration 60 --json
  rostrace path --from /camera/image_raw --to /detections
  rostrace graph --duration 10 --svg graph.svg
  rostrace capture --duration 5 -o trace.json
  rostrace report run.bag -o report.html
  rostrace doctor --node /listener'''


def build_parser():
    parser = argparse.ArgumentParser(
        prog='rostrace', description='eBPF latency tracing for roscpp nodes',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='verb', metavar='VERB')
    sub.required = True
    for name, module in VERBS.items():
        p = sub.add_parser(name, help=module.__doc__.splitlines()[0],
                           description=module.__doc__,
                           epilog=getattr(module, 'EPILOG', None),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def report_error(err):
    print(f'rostrace: error: {err}', file=sys.stderr)
    if err.hint:
        print(f'  {err.hint}', file=sys.stderr)


def main(argv=None):
    args = build_parser().parse_args(argv)
    # SIGTERM ends a run like Ctrl-C: probes are removed on the way out.
    # SIGINT and SIGTERM end a run cleanly (probes removed), also when started from a
    # shell that ran us in the background with SIGINT ignored (POSIX does that).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return args.run(args)
    except RostraceError as err:
        report_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == '__main__':
    sys.exit(main())
