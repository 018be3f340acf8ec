"""The ozchat wire protocol: frame types, limits, validation and error codes. No I/O here.

Every frame is one JSON object in a WebSocket text frame, told apart by its ``type``.
docs/PROTOCOL.md is the human-readable form of this module; keep the two in step.
"""

from __future__ import annotations

import hmac
import secrets
import string
import unicodedata
from enum import Enum
from typing import Annotated, Any, Union
from urllib.parse import urlsplit

import msgspec

from .exceptions import ProtocolError
from .names import is_blank

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

PHONE_NUMBER_ALPHABET = string.ascii_letters + string.digits
PHONE_NUMBER_LENGTH = 5


class ErrorCode(str, Enum):
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


class CloseCode:
    """WebSocket close codes the hub uses besides the standard 1000/1001/1009/1011."""

    HELLO_TIMEOUT = 4001
    ACCESS_DENIED = 4003
    REPLACED = 4009
    RATE_LIMITED = 4029
    TOO_SLOW = 4008


class ConnectionState(str, Enum):
    """The connecting side's outcome, named as in Ozeki's OzWebClient."""

    ACCESS_GRANTED = "ACCESS_GRANTED"
    ACCESS_DENIED = "ACCESS_DENIED"
    CONNECTION_FAILED = "CONNECTION_FAILED"
    CONNECTION_CLOSED = "CONNECTION_CLOSED"


class ClientStatus(str, Enum):
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
    properties: Union[dict[str, Any], msgspec.UnsetType] = msgspec.UNSET
    token: Union[str, None] = None
    # Replay every message after this sequence number (a reconnect); None: the newest `history`.
    last_seq: Union[int, None] = None
    # The numbering last_seq counts in (the welcome's epoch); another one means "replay all you have".
    epoch: Union[str, None] = None
    # With last_seq: replay every direct message of this client numbered after this (absent: 0).
    last_direct_seq: Union[int, None] = None
    history: Union[int, None] = None
    resume: Union[Resume, None] = None
    # The client's own secret, the same in every hello: resends are matched against its earlier sends only.
    client_secret: Union[Annotated[str, msgspec.Meta(min_length=16, max_length=128)], None] = None


class Send(_Frame, tag="send"):
    text: str
    to: Union[PhoneNumber, None] = None
    action: bool = False
    id: Union[str, None] = None


class Update(_Frame, tag="update"):
    properties: dict[str, Any]
    id: Union[str, None] = None


class Upload(_Frame, tag="upload"):
    """An avatar image, base64-encoded; the hub answers with an `uploaded` frame naming its URL."""

    data: str
    id: Union[str, None] = None


ClientFrame = Union[Hello, Send, Update, Upload]


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
        if key in self.properties:
            return self.properties[key]
        folded = key.casefold()
        for name, value in self.properties.items():
            if name.casefold() == folded:
                return value
        return default

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
    nickname: Union[str, None] = None
    to: Union[PhoneNumber, None] = None
    action: bool = False
    id: Union[str, None] = None
    history: bool = False  # said before this client joined: replayed from stored history to a newcomer
    direct_seq: Union[int, None] = None

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
    id: Union[str, None] = None


class Ack(_Frame, tag="ack"):
    id: str
    seq: Union[int, None] = None
    ts: Union[int, None] = None
    direct_seq: Union[int, None] = None  # a direct message's number among the sender's own
    # The sender's whole properties after an `update` was merged in.
    properties: Union[dict[str, Any], None] = None


class ErrorFrame(_Frame, tag="error"):
    code: str
    message: str
    id: Union[str, None] = None
    retry_after: Union[float, None] = None  # seconds, on rate_limited: when the same frame would pass


HubFrame = Union[Welcome, Presence, ChatMessage, Gap, Synced, Uploaded, Ack, ErrorFrame]

_encoder = msgspec.json.Encoder()
_client_decoder = msgspec.json.Decoder(ClientFrame)
_hub_decoder = msgspec.json.Decoder(HubFrame)


def encode(frame: msgspec.Struct) -> bytes:
    """Encode one frame as UTF-8 JSON, ready for a WebSocket text frame."""
    return _encoder.encode(frame)


def _decode(decoder: msgspec.json.Decoder, data: Union[str, bytes]) -> Any:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    try:
        return decoder.decode(data)
    except RecursionError:
        raise ProtocolError(ErrorCode.TOO_DEEP, "JSON nested too deeply", readable_client_id(data)) from None
    except msgspec.ValidationError as exc:
        error = _validation_error(str(exc))
        error.request_id = readable_client_id(data)
        raise error from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not valid JSON: {exc}") from None


class _Head(msgspec.Struct):
    """The top-level fields read before (or instead of) a full decode."""

    type: Any = None
    id: Any = None
    version: Any = PROTOCOL_VERSION
    token: Any = None


_head_decoder = msgspec.json.Decoder(_Head)
_JSON_WHITESPACE = b" \t\r\n"


def _read_head(data: bytes) -> _Head:
    """Top-level fields of a JSON object, also when it nests too deeply for a full decode."""
    try:
        return _head_decoder.decode(data)
    except RecursionError:
        return _Head(**{name: value for name in _Head.__struct_fields__ if (value := _scan_top_level(data, name)) is not None})
    except msgspec.ValidationError:
        raise ProtocolError(ErrorCode.NOT_OBJECT, "a frame must be a JSON object") from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not valid JSON: {exc}") from None


def readable_client_id(data: Union[str, bytes]) -> Union[str, None]:
    """The top-level ``id`` of a frame that failed to decode, when it is a valid client id."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    try:
        found = _read_head(data).id
    except ProtocolError:
        return None
    if isinstance(found, str) and 0 < len(found) <= MAX_CLIENT_ID_CHARS:
        return found
    return None


def _scan_top_level(data: bytes, name: str) -> Any:
    """The scalar value of key `name` at depth 1, found without recursing (None when absent)."""
    key = msgspec.json.encode(name)
    depth = 0
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == 0x22:  # '"': skip the string, or read the value when it is the wanted key at depth 1
            end = _string_end(data, index)
            if depth == 1 and data[index:end] == key:
                rest = data[end:].lstrip(_JSON_WHITESPACE)
                value = rest[1:].lstrip(_JSON_WHITESPACE) if rest.startswith(b":") else b""
                size = _string_end(value, 0) if value.startswith(b'"') else len(value.split(b",")[0].split(b"}")[0])
                try:
                    return msgspec.json.decode(value[:size])
                except msgspec.DecodeError:
                    return None
            index = end
            continue
        if byte in b"[{":
            depth += 1
        elif byte in b"]}":
            depth -= 1
        index += 1
    return None


def _string_end(data: bytes, start: int) -> int:
    """The index just past the JSON string that opens at `start`."""
    end = start + 1
    while end < len(data) and data[end] != 0x22:
        end += 2 if data[end] == 0x5C else 1
    return end + 1


def _validation_error(text: str) -> ProtocolError:
    if text.startswith("Expected `object`") and " - at " not in text:
        return ProtocolError(ErrorCode.NOT_OBJECT, "a frame must be a JSON object")
    if text == "Object missing required field `type`" or text.endswith("- at `$.type`"):
        return ProtocolError(ErrorCode.UNKNOWN_TYPE, f"missing or unknown frame type ({text})")
    return ProtocolError(ErrorCode.BAD_FIELD, text)


def decode_client_frame(data: Union[str, bytes]) -> ClientFrame:
    """Decode and validate a frame sent by a client; raise ProtocolError with a stable code."""
    return check_client_frame(decode_client_frame_unchecked(data))


def decode_client_frame_unchecked(data: Union[str, bytes]) -> ClientFrame:
    """Decode a client frame by type and field types only; `check_client_frame` does the rest."""
    frame = _decode(_client_decoder, data)
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if not isinstance(frame, Upload) and size > MAX_FRAME_BYTES:
        raise ProtocolError(
            ErrorCode.FRAME_TOO_LARGE,
            f"frames other than upload have at most {MAX_FRAME_BYTES} bytes",
            getattr(frame, "id", None),
        )
    return frame


def check_client_frame(frame: ClientFrame) -> ClientFrame:
    """Check a decoded client frame against the limits; errors carry the frame's client id."""
    if isinstance(frame, Hello):
        validate_line(frame.line)
        if frame.properties is not msgspec.UNSET:
            validate_properties(frame.properties)
        return frame
    validate_client_id(frame.id)
    try:
        if isinstance(frame, Send):
            validate_text(frame.text)
        elif isinstance(frame, Update):
            _check_depth(frame.properties)
            _check_names(frame.properties)
    except ProtocolError as exc:
        exc.request_id = frame.id
        raise
    return frame


def frame_type(data: Union[str, bytes]) -> Any:
    """The ``type`` of a frame, read without decoding the rest; ProtocolError when not a JSON object."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return _read_head(data).type


def decode_hello(data: Union[str, bytes], *, required_token: Union[str, None] = None) -> Hello:
    """Check a hello in the documented order, so a refusal tells an unauthenticated client nothing more.

    1. version (absent or 1): `unsupported_version`; 2. token, when the hub requires one:
    `bad_token`; 3. the frame itself (field types, JSON nesting, size): `bad_field`, `too_deep`,
    `frame_too_large`; 4. the line name: `bad_line`; 5. the properties.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    head = _read_head(data)
    if type(head.version) is not int or head.version != PROTOCOL_VERSION:
        raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION, f"this hub speaks protocol version {PROTOCOL_VERSION}")
    if required_token is not None and not (
        isinstance(head.token, str)
        and hmac.compare_digest(head.token.encode("utf-8", "surrogatepass"), required_token.encode("utf-8", "surrogatepass"))
    ):
        raise ProtocolError(ErrorCode.BAD_TOKEN, "the security token is missing or wrong")
    frame = decode_client_frame_unchecked(data)
    if not isinstance(frame, Hello):
        raise ProtocolError(ErrorCode.HELLO_REQUIRED, "send a hello first", getattr(frame, "id", None))
    check_client_frame(frame)
    return frame


def decode_hub_frame(data: Union[str, bytes]) -> HubFrame:
    """Decode a frame sent by a hub; raise ProtocolError when it is not one we know."""
    return _decode(_hub_decoder, data)


# ---- validation ---------------------------------------------------------------------

# Zero-width joiner stays: emoji sequences in nicknames need it.
_ALLOWED_FORMAT_CHARS = frozenset("\u200d")


def _is_unprintable(char: str) -> bool:
    category = unicodedata.category(char)
    if category == "Cf":
        return char not in _ALLOWED_FORMAT_CHARS
    return category in ("Cc", "Cs", "Zl", "Zp")


def validate_line(line: str) -> str:
    if not line or len(line) > MAX_LINE_CHARS:
        raise ProtocolError(ErrorCode.BAD_LINE, f"a line name has 1 to {MAX_LINE_CHARS} characters")
    if any(char.isspace() or _is_unprintable(char) for char in line):
        raise ProtocolError(ErrorCode.BAD_LINE, "a line name has no spaces or control characters")
    return line


def validate_text(text: str) -> str:
    if not text.strip():
        raise ProtocolError(ErrorCode.BAD_TEXT, "a message needs some text")
    if len(text) > MAX_TEXT_CHARS:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"a message has at most {MAX_TEXT_CHARS} characters")
    return text


def validate_client_id(client_id: Union[str, None]) -> None:
    if client_id is not None and not (0 < len(client_id) <= MAX_CLIENT_ID_CHARS):
        raise ProtocolError(ErrorCode.BAD_CLIENT_ID, f"an id has 1 to {MAX_CLIENT_ID_CHARS} characters")


def _check_depth(value: Any, depth: int = 1) -> None:
    if isinstance(value, (dict, list)):
        if depth > MAX_PROPERTY_DEPTH:
            raise ProtocolError(ErrorCode.TOO_DEEP, f"properties nest at most {MAX_PROPERTY_DEPTH} levels")
        for item in value.values() if isinstance(value, dict) else value:
            _check_depth(item, depth + 1)


def _check_names(properties: dict[str, Any]) -> None:
    seen: set[str] = set()
    for key in properties:
        if not key or len(key) > MAX_PROPERTY_KEY_CHARS or any(_is_unprintable(c) for c in key):
            raise ProtocolError(
                ErrorCode.BAD_PROPERTY,
                f"property names have 1 to {MAX_PROPERTY_KEY_CHARS} printable characters",
            )
        folded = key.casefold()
        if folded in seen:
            raise ProtocolError(ErrorCode.BAD_PROPERTY, f"property {key!r} is given twice (names ignore case)")
        seen.add(folded)


def validate_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """Check a whole properties object against the limits; return it unchanged."""
    _check_depth(properties)
    _check_names(properties)
    for key, value in properties.items():
        folded = key.casefold()
        if folded == "nickname":
            validate_nickname(value)
        elif folded == "avatar" and (
            not isinstance(value, str) or len(value) > MAX_AVATAR_CHARS or any(_is_unprintable(c) or c.isspace() for c in value)
        ):
            raise ProtocolError(
                ErrorCode.BAD_PROPERTY,
                f"avatar is a URL or a bundled avatar's name: up to {MAX_AVATAR_CHARS} characters, no spaces or controls",
            )
    size = len(_encoder.encode(properties))
    if size > MAX_PROPERTIES_BYTES:
        raise ProtocolError(
            ErrorCode.PROPERTIES_TOO_LARGE,
            f"properties take {size} bytes encoded; the limit is {MAX_PROPERTIES_BYTES}",
        )
    return properties


def validate_nickname(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(ErrorCode.BAD_NICKNAME, "a nickname is a non-empty string")
    if len(value) > MAX_NICKNAME_CHARS:
        raise ProtocolError(ErrorCode.NICKNAME_TOO_LONG, f"a nickname has at most {MAX_NICKNAME_CHARS} characters")
    if any(_is_unprintable(char) for char in value):
        raise ProtocolError(ErrorCode.BAD_NICKNAME, "a nickname has no control or formatting characters")
    if is_blank(value):
        raise ProtocolError(ErrorCode.BAD_NICKNAME, "a nickname needs a visible character, not only fillers or blanks")
    return value


def merge_properties(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Apply an ``update``: keys are matched ignoring case, a null value removes a key."""
    merged = dict(current)
    for key, value in changes.items():
        for existing in [name for name in merged if name.casefold() == key.casefold()]:
            del merged[existing]
        if value is not None:
            merged[key] = value
    return validate_properties(merged)


def same_properties(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal as the merge rules see them: names compared ignoring case."""
    return {k.casefold(): v for k, v in a.items()} == {k.casefold(): v for k, v in b.items()}


def new_phone_number() -> str:
    return "".join(secrets.choice(PHONE_NUMBER_ALPHABET) for _ in range(PHONE_NUMBER_LENGTH))


def server_url(address: str, default_port: int = DEFAULT_PORT) -> str:
    """Turn ``host``, ``host:port``, ``[v6]:port`` or a ws(s):// URL into a WebSocket URL."""
    address = address.strip()
    if "://" in address:
        parts = urlsplit(address)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// address: {address!r}")
        return address
    if not address:
        raise ValueError("an empty server address")
    parts = urlsplit(f"//{address}")
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"bad port in server address {address!r}") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in server address {address!r}")
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{port}/"
