"""Wire frames as typed structs, the limits and every stable code. No I/O here.

Every frame is one JSON object in a WebSocket text frame, told apart by its ``type``.
docs/PROTOCOL.md is the human-readable form of this package; keep the two in step.
"""

from __future__ import annotations

import string
from enum import StrEnum
from typing import Annotated, Any

import msgspec

PROTOCOL_VERSION = 1
DEFAULT_PORT = 7779

# Limits, all in the hub's welcome frame so a client can check before sending.
MAX_FRAME_BYTES = 64 * 1024
MAX_UPLOAD_BYTES = 256 * 1024  # an avatar image, before base64
MAX_UPLOAD_FRAME_BYTES = 512 * 1024  # an `upload` frame: a 256 KiB image in base64, with room
MAX_PROPERTIES_BYTES = 4 * 1024
MAX_PROPERTY_DEPTH = 8
MAX_PROPERTY_KEY_CHARS = 64
MAX_NICKNAME_CHARS = 32
MAX_AVATAR_CHARS = 2048
MAX_TEXT_CHARS = 4000
MAX_LINE_CHARS = 64
MAX_CLIENT_ID_CHARS = 64
MAX_REPLAY = 1000  # messages replayed after a reconnect, at the most
# Typing: the hub relays at most one `typing` a second per client and conversation; clients
# send one at most every TYPING_REFRESH seconds while keys are pressed, and show one for
# TYPING_SHOWN seconds after the last.
TYPING_INTERVAL = 1.0
TYPING_REFRESH = 3.0
TYPING_SHOWN = 6.0

PHONE_NUMBER_ALPHABET = string.ascii_letters + string.digits
PHONE_NUMBER_LENGTH = 5


class ErrorCode(StrEnum):
    """Stable error codes carried by ``error`` frames."""

    BAD_JSON = "bad_json"
    BINARY_FRAME = "binary_frame"
    NOT_OBJECT = "not_object"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    TOO_DEEP = "too_deep"
    PROPERTIES_TOO_LARGE = "properties_too_large"
    BAD_PROPERTY = "bad_property"
    BAD_NICKNAME = "bad_nickname"
    NICKNAME_TOO_LONG = "nickname_too_long"
    NICKNAME_IN_USE = "nickname_in_use"
    BAD_TEXT = "bad_text"
    TEXT_TOO_LONG = "text_too_long"
    BAD_CLIENT_ID = "bad_client_id"
    FRAME_TOO_LARGE = "frame_too_large"
    BAD_UPLOAD = "bad_upload"
    UPLOADS_DISABLED = "uploads_disabled"
    HELLO_REQUIRED = "hello_required"
    ALREADY_JOINED = "already_joined"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_LINE = "bad_line"
    BAD_TOKEN = "bad_token"
    UNKNOWN_RECIPIENT = "unknown_recipient"
    STORE_FAILED = "store_failed"
    HISTORY_UNAVAILABLE = "history_unavailable"
    RATE_LIMITED = "rate_limited"
    # An upload refused for its image (the same codes the clients' avatar decoder uses).
    UPLOAD_TOO_LARGE = "upload_too_large"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT = "corrupt"


class CloseCode:
    """WebSocket close codes the hub uses besides the standard 1000/1001/1009/1011."""

    HELLO_TIMEOUT = 4001
    ACCESS_DENIED = 4003
    REPLACED = 4009
    RATE_LIMITED = 4029
    TOO_SLOW = 4008


class ConnectionState(StrEnum):
    """The connecting side's outcome, named as in Ozeki's OzWebClient."""

    ACCESS_GRANTED = "ACCESS_GRANTED"
    ACCESS_DENIED = "ACCESS_DENIED"
    CONNECTION_FAILED = "CONNECTION_FAILED"
    CONNECTION_CLOSED = "CONNECTION_CLOSED"


class ClientStatus(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"


# Checked whenever a frame is decoded: a phone number is drawn on terminals and used in UI ids.
PhoneNumber = Annotated[str, msgspec.Meta(pattern=f"^[A-Za-z0-9]{{{PHONE_NUMBER_LENGTH}}}$")]


class _Frame(msgspec.Struct, tag_field="type", rename="camel", omit_defaults=True):
    """Base of every frame: the ``type`` tag comes from each subclass."""


# ---- client -> hub ------------------------------------------------------------------


class Resume(msgspec.Struct, rename="camel"):
    """Reclaim a phone number after a dropped connection, with the token the welcome gave."""

    phone_number: PhoneNumber
    token: str


class Hello(_Frame, tag="hello"):
    line: str
    version: int = PROTOCOL_VERSION
    # Absent (UNSET) on a resume keeps the properties the client had.
    properties: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    token: str | None = None
    # Replay every message after this sequence number (a reconnect); None: the newest `history`.
    last_seq: int | None = None
    # The numbering last_seq counts in (the welcome's epoch); another one means "replay all you have".
    epoch: str | None = None
    # With last_seq: replay every direct message of this client numbered after this (absent: 0).
    last_direct_seq: int | None = None
    history: int | None = None
    resume: Resume | None = None
    # The client's own secret, the same in every hello: resends are matched against its earlier sends only.
    client_secret: Annotated[str, msgspec.Meta(min_length=16, max_length=128)] | None = None


class Send(_Frame, tag="send"):
    text: str
    to: PhoneNumber | None = None
    action: bool = False
    id: str | None = None


class Update(_Frame, tag="update"):
    properties: dict[str, Any]
    id: str | None = None


class Upload(_Frame, tag="upload"):
    """An avatar image, base64-encoded; the hub answers with an `uploaded` frame naming its URL."""

    data: str
    id: str | None = None


class Typing(_Frame, tag="typing"):
    """Keys are being pressed in a conversation (the line, or a direct one `to` a number); `stopped`: no more."""

    to: PhoneNumber | None = None
    stopped: bool = False
    id: str | None = None


ClientFrame = Hello | Send | Update | Upload | Typing


# ---- hub -> client ------------------------------------------------------------------


class ClientInfo(msgspec.Struct, rename="camel", frozen=True):
    """One client's state on a line: what a *client state changed* event carries.

    Shared properties read as attributes (``info.nickname``) or items (``info["avatar"]``);
    attribute names match property keys case-insensitively, as Ozeki's pages rely on.
    """

    phone_number: PhoneNumber
    status: ClientStatus
    properties: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.properties:  # the usual spelling, without the import below
            return self.properties[key]
        from .rules import property_value  # rules imports this module: imported here, not at the top

        return property_value(self.properties, key, default)

    def __getitem__(self, key: str) -> Any:
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            raise KeyError(key)
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        missing = object()
        value = self.get(name, missing)
        if value is missing:
            raise AttributeError(f"{type(self).__name__} has no attribute or property {name!r}")
        return value

    @property
    def display_name(self) -> str:
        """The nickname when one is shared as text, else the phone number."""
        nickname = self.get("nickname")
        return nickname if isinstance(nickname, str) and nickname else self.phone_number


class Limits(msgspec.Struct, rename="camel"):
    max_frame_bytes: int = MAX_FRAME_BYTES
    max_properties_bytes: int = MAX_PROPERTIES_BYTES
    max_property_depth: int = MAX_PROPERTY_DEPTH
    max_nickname_chars: int = MAX_NICKNAME_CHARS
    max_text_chars: int = MAX_TEXT_CHARS
    max_upload_frame_bytes: int = MAX_UPLOAD_FRAME_BYTES


class Welcome(_Frame, tag="welcome", omit_defaults=False):
    phone_number: PhoneNumber
    line: str
    properties: dict[str, Any]
    last_seq: int
    resume_token: str = ""
    resumed: bool = False
    # Names the line's numbering; it changes when the numbering restarts (a hub that lost its history).
    epoch: str = ""
    # The newest number among this client's own direct messages (sent or received) on the line.
    last_direct_seq: int = 0
    version: int = PROTOCOL_VERSION
    state: ConnectionState = ConnectionState.ACCESS_GRANTED
    limits: Limits = msgspec.field(default_factory=Limits)


class Presence(_Frame, tag="presence"):
    clients: list[ClientInfo]


# Presence changes are batched per frame, this many clients at the most.
MAX_PRESENCE_BATCH = 100
# Hub frames may be larger than client frames: a full presence batch with big properties.
MAX_HUB_FRAME_BYTES = 1024 * 1024


class ChatMessage(_Frame, tag="message"):
    """A chat message as the hub relays it: numbered and stamped by the hub.

    `seq` numbers the line's messages; a direct message takes no line number: its `seq` is the
    newest line message's when it was sent, and `direct_seq` numbers it among the direct messages
    of the client receiving this copy (each party has its own numbering).
    """

    seq: int
    ts: int
    sender: PhoneNumber = msgspec.field(name="from")
    text: str
    nickname: str | None = None
    to: PhoneNumber | None = None
    action: bool = False
    id: str | None = None
    history: bool = False  # said before this client joined: replayed from stored history to a newcomer
    direct_seq: int | None = None

    @property
    def is_direct(self) -> bool:
        return self.to is not None


class Gap(_Frame, tag="gap"):
    """Messages with after_seq < seq < before_seq exist but can no longer be replayed.

    With `direct`, the numbers are this client's direct-message numbers (`direct_seq`) instead.
    """

    after_seq: int
    before_seq: int
    direct: bool = False


class Synced(_Frame, tag="synced"):
    """Everything owed since the hello (presence, history, replay) has been sent; live from here."""

    last_seq: int


class Uploaded(_Frame, tag="uploaded"):
    """An accepted avatar upload: share `name` as your `avatar` property; each viewer resolves it against its hub."""

    name: str
    id: str | None = None


class Ack(_Frame, tag="ack"):
    id: str
    seq: int | None = None
    ts: int | None = None
    direct_seq: int | None = None  # a direct message's number among the sender's own
    # The sender's whole properties after an `update` was merged in.
    properties: dict[str, Any] | None = None


class ErrorFrame(_Frame, tag="error"):
    code: str
    message: str
    id: str | None = None
    retry_after: float | None = None  # seconds, on rate_limited: when the same frame would pass


class TypingNotice(_Frame, tag="typing"):
    """Someone (`from`) is typing on the line, or to you when `to` is present; `stopped`: no more. Never stored."""

    sender: PhoneNumber = msgspec.field(name="from")
    to: PhoneNumber | None = None
    stopped: bool = False


HubFrame = Welcome | Presence | ChatMessage | Gap | Synced | Uploaded | Ack | ErrorFrame | TypingNotice
