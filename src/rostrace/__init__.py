"""rostrace: eBPF latency tracing for multi-process ROS 1 (roscpp) systems."""
__version__ = '0.1.0'
