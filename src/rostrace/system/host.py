"""The name this host goes by in statuses, messages, logs and metrics."""
import os
import socket

HOST_ENV = 'ROSTRACE_HOST'


def host_name():
    """$ROSTRACE_HOST (the monitor's ~host parameter sets it), else the hostname."""
    return os.environ.get(HOST_ENV, '').strip() or socket.gethostname()
