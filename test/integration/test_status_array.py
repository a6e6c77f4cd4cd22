"""StatusArray: the monitor's /diagnostics written straight from its Status objects
must be the bytes genpy writes for the same DiagnosticArray (needs the workspace's
generated messages, hence here and not in test/unit; no ROS graph)."""
import io

import genpy
from diagnostic_msgs.msg import DiagnosticArray

from rostrace.output.messages import StatusArray, status_msg
from rostrace.views.diagnostics import ERROR, OK, WARN, Status


def statuses():
    return [Status(name='rostrace: /a /t', hardware_id='host', level=OK, message='ok',
                   values=[('pid', '12'), ('queuing mean (ms)', '0.125')]),
            Status(name='rostrace: /ü /τ', hardware_id='', level=WARN, message='µs; "x"',
                   values=[]),
            Status(name='rostrace: monitor h', hardware_id='h', level=ERROR,
                   message='', values=[('', ''), ('key', 'ä' * 300)])]


def serialized(msg, seq):
    msg.header.seq = seq            # as rospy does before it serializes
    buff = io.BytesIO()
    msg.serialize(buff)
    return buff.getvalue()


def test_the_bytes_are_genpys():
    stamp = genpy.Time(1700000000, 123456789)
    reference = DiagnosticArray(status=[status_msg(s) for s in statuses()])
    reference.header.stamp = stamp
    packed = StatusArray(statuses(), stamp)
    assert serialized(packed, 7) == serialized(reference, 7)
    back = DiagnosticArray().deserialize(serialized(packed, 7))
    assert [s.name for s in back.status] == [s.name for s in statuses()]
    assert back.status[2].values[1].value == 'ä' * 300 and back.header.seq == 7


def test_no_statuses():
    stamp = genpy.Time(5, 6)
    reference = DiagnosticArray()
    reference.header.stamp = stamp
    assert serialized(StatusArray([], stamp), 1) == serialized(reference, 1)
