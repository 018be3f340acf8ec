"""The ozchat hub: lines, presence and message relay over WebSockets."""

from .line import Line, LineRegistry
from .server import Hub
from .state import HubState

__all__ = ["Hub", "HubState", "Line", "LineRegistry"]
