"""The monitor node: its loop (monitor.py) and its rospy wiring (ros_node.py)."""
