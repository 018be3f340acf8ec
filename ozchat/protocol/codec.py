"""Encoding frames, and decoding them into structs with a stable error code for each failure. No I/O.

A frame that fails to decode still yields what can be read of it (its ``type``, ``id``,
``version`` and ``token``), so the error can name the request at fault and a hello can be
refused in the documented order.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec

from ..exceptions import ProtocolError
from .frames import (
    MAX_CLIENT_ID_CHARS,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    ClientFrame,
    ErrorCode,
    Hello,
    HubFrame,
    Upload,
)
from .rules import check_client_frame

_encoder = msgspec.json.Encoder()
_client_decoder = msgspec.json.Decoder(ClientFrame)
_hub_decoder = msgspec.json.Decoder(HubFrame)


def encode(frame: msgspec.Struct) -> bytes:
    """Encode one frame as UTF-8 JSON, ready for a WebSocket text frame."""
    return _encoder.encode(frame)


def _decode(decoder: msgspec.json.Decoder[Any], data: str | bytes) -> Any:
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
        found = {name: _scan_top_level(data, name) for name in _Head.__struct_fields__}
        return _Head(**{name: value for name, value in found.items() if value is not None})
    except msgspec.ValidationError:
        raise ProtocolError(ErrorCode.NOT_OBJECT, "a frame must be a JSON object") from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not valid JSON: {exc}") from None


def readable_client_id(data: str | bytes) -> str | None:
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


def decode_client_frame(data: str | bytes) -> ClientFrame:
    """Decode and validate a frame sent by a client; raise ProtocolError with a stable code."""
    return check_client_frame(decode_client_frame_unchecked(data))


def decode_client_frame_unchecked(data: str | bytes) -> ClientFrame:
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



def frame_type(data: str | bytes) -> Any:
    """The ``type`` of a frame, read without decoding the rest; ProtocolError when not a JSON object."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return _read_head(data).type


def decode_hello(data: str | bytes, *, required_token: str | None = None) -> Hello:
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
        and hmac.compare_digest(
            head.token.encode("utf-8", "surrogatepass"), required_token.encode("utf-8", "surrogatepass")
        )
    ):
        raise ProtocolError(ErrorCode.BAD_TOKEN, "the security token is missing or wrong")
    frame = decode_client_frame_unchecked(data)
    if not isinstance(frame, Hello):
        raise ProtocolError(ErrorCode.HELLO_REQUIRED, "send a hello first", getattr(frame, "id", None))
    check_client_frame(frame)
    return frame


def decode_hub_frame(data: str | bytes) -> HubFrame:
    """Decode a frame sent by a hub; raise ProtocolError when it is not one we know."""
    return _decode(_hub_decoder, data)

