"""ozchat: a terminal chat with live presence, after Ozeki's OzWebClient presence model.

The public API, re-exported here: the client (`OzWebClient`), its reconnect policy and its
events, the connection states, the protocol's frames and codes that reach a program, the
session logic without I/O (`ClientSession`, for a client on another transport), the error
tree and the version.

    from ozchat import OzWebClient, ClientStatus

Each name loads its module on first use, so `import ozchat.protocol` (as the hub does) does not
load the client and websockets with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Where each public name lives; `from ozchat import X` loads that module then.
_HOMES = {
    "EventStream": "client",
    "OzWebClient": "client",
    "ConnectionStateChanged": "events",
    "Event": "events",
    "RenumberedClient": "events",
    "ReconnectPolicy": "reconnect",
    "ClientSession": "session",
    "AccessDenied": "exceptions",
    "ConnectionClosed": "exceptions",
    "ConnectionFailed": "exceptions",
    "OzchatConnectionError": "exceptions",
    "OzchatError": "exceptions",
    "ProtocolError": "exceptions",
    "RequestRejected": "exceptions",
    "DEFAULT_PORT": "protocol",
    "PROTOCOL_VERSION": "protocol",
    "ChatMessage": "protocol",
    "ClientInfo": "protocol",
    "ClientStatus": "protocol",
    "ConnectionState": "protocol",
    "ErrorCode": "protocol",
    "ErrorFrame": "protocol",
    "Gap": "protocol",
    "Synced": "protocol",
    "TypingNotice": "protocol",
    "TypingBoard": "typing_signals",
    "Roster": "roster",
}

__all__ = [
    "DEFAULT_PORT",
    "PROTOCOL_VERSION",
    "AccessDenied",
    "ChatMessage",
    "ClientInfo",
    "ClientSession",
    "ClientStatus",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionState",
    "ConnectionStateChanged",
    "ErrorCode",
    "ErrorFrame",
    "Event",
    "EventStream",
    "Gap",
    "OzWebClient",
    "OzchatConnectionError",
    "OzchatError",
    "ProtocolError",
    "ReconnectPolicy",
    "RenumberedClient",
    "RequestRejected",
    "Roster",
    "Synced",
    "TypingBoard",
    "TypingNotice",
    "__version__",
]

if TYPE_CHECKING:
    from .client import EventStream, OzWebClient
    from .events import ConnectionStateChanged, Event, RenumberedClient
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
        TypingNotice,
    )
    from .reconnect import ReconnectPolicy
    from .roster import Roster
    from .session import ClientSession
    from .typing_signals import TypingBoard


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # loaded once; later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
