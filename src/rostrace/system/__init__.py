"""System access: /proc, the ROS master and slave APIs, ELF symbols, what the machine has. Everything read here is untrusted."""
