"""ozchat: a terminal chat with live presence, after Ozeki's OzWebClient presence model."""

from .client import ConnectionStateChanged, EventStream, OzWebClient, RenumberedClient
from .exceptions import (
    AccessDenied,
    ConnectionClosed,
    ConnectionFailed,
    OzchatConnectionError,
    OzchatError,
    ProtocolError,
    RequestRejected,
)
from .protocol import (
    DEFAULT_PORT,
    PROTOCOL_VERSION,
    ChatMessage,
    ClientInfo,
    ClientStatus,
    ConnectionState,
    ErrorCode,
    ErrorFrame,
    Gap,
    Synced,
)
from .roster import Roster

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PORT",
    "PROTOCOL_VERSION",
    "AccessDenied",
    "ChatMessage",
    "ClientInfo",
    "ClientStatus",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionState",
    "ConnectionStateChanged",
    "ErrorCode",
    "ErrorFrame",
    "EventStream",
    "Gap",
    "OzWebClient",
    "OzchatConnectionError",
    "OzchatError",
    "ProtocolError",
    "RenumberedClient",
    "RequestRejected",
    "Roster",
    "Synced",
    "__version__",
]
