"""ROS graph names as rostrace compares them. [pure]"""


def absolute(name):
    """'/talker' for 'talker' or '/talker': node and topic names are compared in
    their global form (no namespace or remapping is resolved: a relative name is
    taken as relative to the root)."""
    return name if name.startswith('/') else '/' + name
