"""The only package that imports bcc: the BPF program, its contract with Python, calibration."""
