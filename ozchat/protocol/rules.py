"""The rules a frame's contents must meet: line names, text, ids, properties, nicknames. No I/O."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ..addresses import url_host
from ..exceptions import ProtocolError
from ..names import is_blank
from ..text import has_unprintable
from .frames import (
    DEFAULT_PORT,
    MAX_AVATAR_CHARS,
    MAX_CLIENT_ID_CHARS,
    MAX_LINE_CHARS,
    MAX_NICKNAME_CHARS,
    MAX_PROPERTIES_BYTES,
    MAX_PROPERTY_DEPTH,
    MAX_PROPERTY_KEY_CHARS,
    MAX_TEXT_CHARS,
    PHONE_NUMBER_ALPHABET,
    PHONE_NUMBER_LENGTH,
    ClientFrame,
    ErrorCode,
    Hello,
    Send,
    Update,
)


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


def validate_line(line: str) -> str:
    if not line or len(line) > MAX_LINE_CHARS:
        raise ProtocolError(ErrorCode.BAD_LINE, f"a line name has 1 to {MAX_LINE_CHARS} characters")
    if has_unprintable(line, or_space=True):
        raise ProtocolError(ErrorCode.BAD_LINE, "a line name has no spaces or control characters")
    return line


def validate_text(text: str) -> str:
    if not text.strip():
        raise ProtocolError(ErrorCode.BAD_TEXT, "a message needs some text")
    if len(text) > MAX_TEXT_CHARS:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"a message has at most {MAX_TEXT_CHARS} characters")
    return text


def validate_client_id(client_id: str | None) -> None:
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
        if not key or len(key) > MAX_PROPERTY_KEY_CHARS or has_unprintable(key):
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
        elif folded == "avatar" and not _is_avatar_name(value):
            raise ProtocolError(
                ErrorCode.BAD_PROPERTY,
                f"avatar is a URL or a bundled avatar's name: up to {MAX_AVATAR_CHARS} characters, "
                "no spaces or controls",
            )
    size = len(msgspec.json.encode(properties))
    if size > MAX_PROPERTIES_BYTES:
        raise ProtocolError(
            ErrorCode.PROPERTIES_TOO_LARGE,
            f"properties take {size} bytes encoded; the limit is {MAX_PROPERTIES_BYTES}",
        )
    return properties


def _is_avatar_name(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= MAX_AVATAR_CHARS
        and not has_unprintable(value, or_space=True)
    )


def validate_nickname(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(ErrorCode.BAD_NICKNAME, "a nickname is a non-empty string")
    if len(value) > MAX_NICKNAME_CHARS:
        raise ProtocolError(ErrorCode.NICKNAME_TOO_LONG, f"a nickname has at most {MAX_NICKNAME_CHARS} characters")
    if has_unprintable(value):
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


def property_value(properties: dict[str, Any], name: str, default: Any = None) -> Any:
    """The property called `name`, names matched ignoring case (the one way every side reads them)."""
    if name in properties:
        return properties[name]
    folded = name.casefold()
    return next((value for key, value in properties.items() if key.casefold() == folded), default)


def nickname_of(properties: dict[str, Any]) -> str | None:
    """The `nickname` property (its name in any case) when it is text."""
    nickname = property_value(properties, "nickname")
    return nickname if isinstance(nickname, str) else None


# Random bytes below this stand for a character (their value modulo the alphabet's size); the few above are skipped,
# so every character is equally likely.
_USABLE_BYTES = 256 - 256 % len(PHONE_NUMBER_ALPHABET)


def new_phone_number() -> str:
    """Random characters of the alphabet, from one read of the system's randomness rather than one per character."""
    while True:
        picked = [
            PHONE_NUMBER_ALPHABET[byte % len(PHONE_NUMBER_ALPHABET)]
            for byte in secrets.token_bytes(2 * PHONE_NUMBER_LENGTH) if byte < _USABLE_BYTES
        ]
        if len(picked) >= PHONE_NUMBER_LENGTH:
            return "".join(picked[:PHONE_NUMBER_LENGTH])


def server_url(address: str, default_port: int = DEFAULT_PORT) -> str:
    """Turn ``host``, ``host:port``, ``v6``, ``[v6]:port`` or a ws(s):// URL into a WebSocket URL."""
    address = address.strip()
    if "://" in address:
        parts = urlsplit(address)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// address: {address!r}")
        return address
    if not address:
        raise ValueError("an empty server address")
    if address.count(":") > 1 and not address.startswith("["):
        # A bare IPv6 literal: its colons are the address's own, none of them is before a port.
        address = url_host(address)
    parts = urlsplit(f"//{address}")
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"bad port in server address {address!r}") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in server address {address!r}")
    return f"ws://{url_host(host)}:{port}/"
