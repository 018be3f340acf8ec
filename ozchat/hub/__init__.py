"""The ozchat hub: lines, presence and message relay over WebSockets."""

from .line import Line, LineRegistry
from .server import Hub

__all__ = ["Hub", "Line", "LineRegistry"]
