"""The events a client tells its program of, besides the protocol's own frames. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from .protocol import ChatMessage, ClientInfo, ConnectionState, ErrorFrame, Gap, Synced, TypingNotice


@dataclass(frozen=True)
class ConnectionStateChanged:
    """The connecting side's outcome; `code` is the hub's error code or the close code."""

    state: ConnectionState
    code: str | int | None = None
    reason: str = ""
    retrying: bool = False  # not for good: the client is trying (again) by itself
    # ACCESS_GRANTED after a reconnect to a hub whose numbering restarted (it lost its history):
    # messages seen before are gone from the hub, and all it still has is replayed next.
    history_reset: bool = False
    # ACCESS_GRANTED under another nickname: the one asked for, which someone on the line had
    # (or one looking like it); `OzWebClient.nickname` is the one given.
    taken_nickname: str | None = None


class RenumberedClient(ClientInfo, frozen=True):
    """ONLINE under a new phone number: the same client as `previous_phone_number`, which is gone.

    Only after a reconnect, when the hub lost everyone's numbers (a restart without its store):
    the client was listed before under the old number and now, with the same properties, under
    this one. Move what belonged to the old number (a direct-message tab) to the new one.
    """

    previous_phone_number: str = ""


Event = ConnectionStateChanged | ClientInfo | ChatMessage | ErrorFrame | Gap | Synced | TypingNotice
