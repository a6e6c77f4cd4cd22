"""Which ROS message types start with a std_msgs/Header: the generated Python class
(genpy, found through roslib) says `_has_header`. Types whose package is not installed
here are unknown (None), and their stamps are not read."""
import functools


@functools.lru_cache(maxsize=4096)
def has_header(type_name):
    """True / False for `pkg/Type`, None when it cannot be told here."""
    if not isinstance(type_name, str) or type_name.count('/') != 1 or len(type_name) > 256:
        return None
    try:
        from roslib.message import get_message_class
        cls = get_message_class(type_name)
    except Exception:           # roslib missing, package not installed, bad name
        return None
    return bool(getattr(cls, '_has_header', False)) if cls is not None else None
