"""The checks frames pass: rate limits, frame type, joins, upload data. No I/O.

`HubState` runs them in the order `docs/PROTOCOL.md` gives for a hello.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
from collections.abc import Callable

from ..exceptions import ProtocolError
from ..protocol import (
    ClientFrame,
    CloseCode,
    ErrorCode,
    ErrorFrame,
    Hello,
    Upload,
    decode_client_frame,
    decode_client_frame_unchecked,
    decode_hello,
    encode,
    frame_type,
    readable_client_id,
)
from .limits import AddressLimiter, RateLimit, TokenBucket, WindowLimit
from .outputs import Close, Conn, Deliver, Output, answer, refusal, retry_after

log = logging.getLogger("ozchat.hub")


def digest(kind: str, secret: str) -> str:
    """What the hub keeps of a client's secret: a hash, useless to whoever reads the store."""
    return hashlib.sha256(f"ozchat {kind}\0{secret}".encode("utf-8", "surrogatepass")).hexdigest()


def is_hello(raw: str | bytes) -> bool:
    """A text frame whose type reads as hello, however broken the rest."""
    try:
        return isinstance(raw, str) and frame_type(raw) == "hello"
    except ProtocolError:
        return False


def decode_frame(raw: str | bytes, *, check: bool = True) -> ClientFrame:
    """A client frame; `check=False` reads only its shape (for telling a hello from what is not)."""
    if isinstance(raw, bytes):
        raise ProtocolError(ErrorCode.BINARY_FRAME, "send JSON in text frames, not binary frames")
    return decode_client_frame(raw) if check else decode_client_frame_unchecked(raw)


def frame_refusal(
    bucket: TokenBucket | None, rate_limit: RateLimit | None, limiter: AddressLimiter | None, address: str,
    raw: str | bytes, now: float,
) -> ErrorFrame | None:
    """Spend a frame from the connection's and its address's budgets, or say when to try again."""
    if bucket is not None and rate_limit is not None and (wait := bucket.wait(now)) is not None:
        message = f"slow down: at most {rate_limit.rate:g} frames a second (bursts of {rate_limit.burst})"
    elif limiter is not None and (wait := limiter.frame(address, now)) is not None:
        limit = limiter.limits.frames
        assert limit is not None
        message = f"slow down: at most {limit.rate:g} frames a second from one address (bursts of {limit.burst})"
    else:
        return None
    log.debug("rate limited a frame from %s: %s", address, message)
    return ErrorFrame(ErrorCode.RATE_LIMITED, message, readable_client_id(raw), retry_after(wait))


def join_refusal(
    limiter: AddressLimiter | None, address: str, hello: Hello, hello_id: str | None, now: float,
    is_new_line: Callable[[str], bool],
) -> ErrorFrame | None:
    """Count the hello against its address's joins (and new lines); the refusal when over."""
    if limiter is None:
        return None
    if (wait := limiter.join(address, now)) is not None:
        return _over(limiter.limits.joins, "too many joins from this address", wait, address, hello_id)
    if limiter.limits.new_lines is not None and is_new_line(hello.line):
        return new_line_refusal(limiter, address, hello_id, now)
    return None


def new_line_refusal(limiter: AddressLimiter, address: str, hello_id: str | None, now: float) -> ErrorFrame | None:
    """Count a hello to a new line against its address's new lines; the refusal when over."""
    wait = limiter.new_line(address, now)
    return None if wait is None else _over(
        limiter.limits.new_lines, "too many new lines from this address", wait, address, hello_id
    )


def _over(window: WindowLimit | None, message: str, wait: float, address: str, hello_id: str | None) -> ErrorFrame:
    assert window is not None
    message = f"{message}: at most {window.count} in {window.window:g} s; try again in {math.ceil(wait)} s"
    log.debug("turned away a hello from %s: %s", address, message)
    return ErrorFrame(ErrorCode.RATE_LIMITED, message, hello_id, retry_after(wait))


def check_hello(
    conn: Conn, raw: str | bytes, now: float, bucket: TokenBucket | None, rate_limit: RateLimit | None,
    limiter: AddressLimiter | None, address: str, *, token: str | None, is_new_line: Callable[[str], bool],
) -> list[Output[Conn]] | tuple[Hello, str | None]:
    """A frame before the hello, through the checks that need no line's state: its answer, or the hello (and its id).

    Those are steps 0 to 6 of the order in docs/PROTOCOL.md; a hub sharing Redis reads the line only after them.
    """
    if (limited := frame_refusal(bucket, rate_limit, limiter, address, raw, now)) is not None:
        if is_hello(raw):  # every refused hello closes: connect again after retryAfter
            return [Deliver((conn,), encode(limited)), Close(conn, CloseCode.RATE_LIMITED, "rate limited")]
        return [Deliver((conn,), encode(limited))]
    try:
        if isinstance(raw, bytes) or frame_type(raw) != "hello":
            frame = decode_frame(raw, check=False)
            assert not isinstance(frame, Hello)
            raise ProtocolError(ErrorCode.HELLO_REQUIRED, "send a hello first", frame.id)
    except ProtocolError as exc:
        return answer(conn, exc, raw)
    hello_id = readable_client_id(raw)
    try:
        hello = decode_hello(raw, required_token=token)
    except ProtocolError as exc:
        return refusal(conn, ErrorFrame(exc.code, exc.message, hello_id), CloseCode.ACCESS_DENIED, exc.code)
    turned_away = join_refusal(limiter, address, hello, hello_id, now, is_new_line)
    if turned_away is not None:
        return refusal(conn, turned_away, CloseCode.RATE_LIMITED, "rate limited")
    return hello, hello_id


def upload_data(frame: Upload, *, enabled: bool) -> bytes:
    """The image bytes of an upload frame, for a hub that stores uploads."""
    if not enabled:
        raise ProtocolError(ErrorCode.UPLOADS_DISABLED, "this hub does not store avatar uploads", frame.id)
    try:
        return base64.b64decode(frame.data, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(ErrorCode.BAD_UPLOAD, "upload data must be base64", frame.id) from None
