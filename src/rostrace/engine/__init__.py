"""The tracing engine: attach processes, name kernel objects, collect windows."""
from .tracer import Tracer

__all__ = ["Tracer"]
