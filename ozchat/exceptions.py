"""The one exception tree of ozchat.

    OzchatError
    ├── ProtocolError          a frame could not be decoded or validated (carries `code`)
    ├── OzchatConnectionError
    │   ├── ConnectionFailed   the hub could not be reached or the handshake broke (carries
    │   │                      `retry_after`, and `permanent` when trying again cannot help)
    │   ├── AccessDenied       the hub refused the hello (carries `code`)
    │   └── ConnectionClosed   the connection ended while an operation waited on it
    ├── RequestRejected        the hub answered a request with an error frame (carries `code`)
    ├── StoreError             the hub's history store could not read or write (ozchat.hub.store)
    ├── BackplaneError         the hub could not reach the Redis server it shares lines through
    ├── SettingsError          settings.toml cannot be read or holds a wrong value (ozchat.settings)
    ├── CommandError           a slash command was mistyped (ozchat.tui.commands)
    └── AvatarError            an avatar could not be fetched, decoded or stored (ozchat.images)
        └── UploadRejected     the hub refused an avatar upload (ozchat.hub.avatars)

Errors raised by websockets and httpx are translated into this tree at the boundary, so
callers never import those libraries to handle a failure.
"""

from __future__ import annotations


class OzchatError(Exception):
    """Base of every error ozchat raises on purpose."""


class _CodedError(OzchatError):
    """An error that carries one of the protocol's stable error codes and its message."""

    def __init__(self, code: str, message: str) -> None:
        code = str(getattr(code, "value", code))  # an ErrorCode member becomes its plain wire string
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ProtocolError(_CodedError):
    """A frame broke the wire protocol; `code` is one of the stable error codes.

    `request_id` is the client id of the frame at fault, when it could be read.
    """

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(code, message)
        self.request_id = request_id


class OzchatConnectionError(OzchatError):
    """Something went wrong with the connection to a hub."""


class ConnectionFailed(OzchatConnectionError):
    """The hub could not be reached, or the WebSocket handshake failed.

    `retry_after` is the hub's hint, in seconds, when it turned the connection away as too frequent.
    `permanent` says trying again will fail the same way (a certificate that cannot be verified, the
    wrong transport, a server that is not a hub): a client that keeps trying stops on it.
    """

    def __init__(self, message: str, retry_after: float | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class AccessDenied(_CodedError, OzchatConnectionError):
    """The hub refused the hello; `code` says why."""


class ConnectionClosed(OzchatConnectionError):
    """The connection ended while an operation was waiting on it."""


class RequestRejected(_CodedError):
    """The hub answered a request (a message, a property update) with an error frame."""


class BackplaneError(OzchatError):
    """A hub that shares its lines (`ozchat serve --redis`) could not reach its Redis server."""
