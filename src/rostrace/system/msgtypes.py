"""Which ROS message types start with a std_msgs/Header: the generated Python class
(genpy, found through roslib) says `_has_header`. Types whose package is not installed
here are unknown (None), and their stamps are not read."""

_KNOWN = {}             # type -> True / False (unknown answers are asked again)
KNOWN_MAX = 4096


def has_header(type_name):
    """True / False for `pkg/Type`, None when it cannot be told here (now)."""
    if type_name in _KNOWN:
        return _KNOWN[type_name]
    if not isinstance(type_name, str) or type_name.count('/') != 1 or len(type_name) > 256:
        return None
    try:
        from roslib.message import get_message_class
        cls = get_message_class(type_name)
    except Exception:           # roslib missing, package not installed, bad name
        return None
    if cls is None:
        return None
    if len(_KNOWN) < KNOWN_MAX:
        _KNOWN[type_name] = bool(getattr(cls, '_has_header', False))
    return bool(getattr(cls, '_has_header', False))
