"""The only package that imports bcc: BPF programs and their attachment."""
