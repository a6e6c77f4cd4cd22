"""Draw DOT text with Debian's Graphviz (`dot`), when installed."""
import shutil
import subprocess


def svg(dot_text, timeout=30):
    """The graph drawn by Graphviz's `dot` (Debian's graphviz), or None without it."""
    exe = shutil.which('dot')
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, '-Tsvg'], input=dot_text, capture_output=True,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
