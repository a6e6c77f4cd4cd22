"""Errors a user can hit, each with the context and a hint on how to fix it."""

EXIT_USAGE = 2
EXIT_NOPERM = 77
EXIT_FAILURE = 1


class RostraceError(Exception):
    """Base error: `str()` is the one line shown to the user, `hint` the fix."""

    exit_code = EXIT_FAILURE

    def __init__(self, message, *, hint=None):
        super().__init__(message)
        self.hint = hint


class NotPrivileged(RostraceError):
    exit_code = EXIT_NOPERM


class SystemNotReady(RostraceError):
    """tracefs, BCC or uprobes missing: nothing was attached."""


class MasterUnreachable(RostraceError):
    pass


class NodeNotFound(RostraceError):
    def __init__(self, node, master_uri, known_nodes):
        nodes = ' '.join(sorted(known_nodes)) or '(none)'
        super().__init__(f"node '{node}' is not registered with the master at {master_uri}",
                         hint=f'nodes: {nodes}')
        self.node = node
        self.known_nodes = sorted(known_nodes)


class ProcessGone(RostraceError):
    """The target process exited; whatever was attached to it is gone with it."""

    def __init__(self, pid, what=''):
        super().__init__(f'process {pid} is gone{": " + what if what else ""}')
        self.pid = pid


class BadPeer(RostraceError):
    """A node (or the master about it) answered, but nothing rostrace can trust."""

    def __init__(self, node, reason):
        super().__init__(f'{node} answers nonsense: {reason}')
        self.node = node


class ProcEntryMissing(RostraceError):
    """A /proc file this kernel or this process does not have (the process is alive)."""


class UnsupportedNode(RostraceError):
    pass


class ProbePointMissing(RostraceError):
    pass
