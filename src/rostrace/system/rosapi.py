"""The ROS Master and slave APIs (XML-RPC) rostrace calls, with timeouts.

Everything a master or node answers is untrusted input: a failed or malformed call is
MasterUnreachable (master) or ProcessGone (node), never a crash.
"""
import os
import xmlrpc.client

from ..errors import MasterUnreachable, NodeNotFound, ProcessGone

CALLER_ID = '/rostrace'
XMLRPC_TIMEOUT_S = 3.0


class _TimeoutTransport(xmlrpc.client.Transport):
    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = XMLRPC_TIMEOUT_S
        return conn


def _proxy(uri):
    return xmlrpc.client.ServerProxy(uri, transport=_TimeoutTransport())


class Master:
    """The few master API calls rostrace needs."""

    def __init__(self, uri=None):
        self.uri = uri or os.environ.get('ROS_MASTER_URI', 'http://localhost:11311')

    def _call(self, method, *args):
        try:
            code, msg, value = getattr(_proxy(self.uri), method)(CALLER_ID, *args)
        except (OSError, xmlrpc.client.Error) as e:
            raise MasterUnreachable(f'cannot reach the ROS master at {self.uri}: {e}',
                                    hint='start roscore or set ROS_MASTER_URI') from None
        return code, msg, value

    def nodes(self):
        _, _, state = self._call('getSystemState')
        return sorted({n for kind in state for _, names in kind for n in names})

    def lookup_node(self, node):
        code, _, uri = self._call('lookupNode', node)
        if code != 1:
            raise NodeNotFound(node, self.uri, self.nodes())
        return uri

    def topic_publishers(self, topics):
        """{topic: [publisher nodes]} for the given topics."""
        _, _, state = self._call('getSystemState')
        return {topic: sorted(names) for topic, names in state[0] if topic in topics}

    def subscriptions(self, node):
        """Topics `node` subscribes to, as the master knows them."""
        _, _, state = self._call('getSystemState')
        return sorted(topic for topic, names in state[1] if node in names)


class Node:
    """A node's slave API at `uri`."""

    def __init__(self, uri):
        self.uri = uri

    def call(self, method, *args):
        try:
            code, msg, value = getattr(_proxy(self.uri), method)(CALLER_ID, *args)
        except (OSError, xmlrpc.client.Error) as e:
            raise ProcessGone(0, f'node at {self.uri} does not answer ({e})') from None
        return code, value

    def pid(self):
        """The node's PID in its own PID namespace, or None."""
        code, value = self.call('getPid')
        return value if code == 1 and isinstance(value, int) else None

    def topics(self, method):
        """Topic names of getSubscriptions / getPublications; empty when the node does
        not answer or answers nonsense."""
        try:
            _, value = self.call(method)
            return {t for t, _ in value}
        except (ProcessGone, TypeError, ValueError):
            return set()

    def subscriptions(self):
        return self.topics('getSubscriptions')

    def publications(self):
        return self.topics('getPublications')
