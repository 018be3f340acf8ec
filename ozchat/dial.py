"""A client's socket to a hub: opening it and saying hello (every failure a ConnectionFailed), keeping it alive,
what ended it, in words, and giving up a wait when the client is told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from .exceptions import ConnectionFailed, ProtocolError
from .protocol import MAX_HUB_FRAME_BYTES, CloseCode, Hello, HubFrame, decode_hub_frame, encode

log = logging.getLogger("ozchat.client")

T = TypeVar("T")


# HTTP answers to a WebSocket handshake that say "later": too many joins, or a proxy whose hub is not up (yet).
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
# A handshake the server at the address broke this way will break again: it is not a hub speaking this protocol.
_NOT_A_HUB = (websockets.InvalidHeader, websockets.NegotiationError, websockets.SecurityError)


async def say_hello(
    url: str, hello: Hello, *, timeout: float, ssl_context: ssl.SSLContext | None = None
) -> tuple[ClientConnection, HubFrame]:
    """Open a socket to `url`, send `hello` and return the socket with the hub's answer; raise ConnectionFailed.

    The ConnectionFailed is `permanent` when trying again cannot help: an unverifiable certificate,
    the other transport (ws:// to a TLS hub, wss:// to a plain one), an HTTP answer other than
    429/502/503/504 or not HTTP/1.1, a server that is not a WebSocket hub, or an answer that is not a frame.
    A socket opened here is closed when the call is cancelled.
    """
    tls: dict[str, Any] = {"ssl": ssl_context} if ssl_context is not None and url.startswith("wss:") else {}
    try:
        ws = await ws_connect(
            url,
            open_timeout=timeout,
            max_size=MAX_HUB_FRAME_BYTES,
            ping_interval=None,  # the client's own keepalive: a silent hub is cut, not sent a close frame
            **tls,
        )
    except websockets.InvalidStatus as exc:
        status = exc.response.status_code
        raise ConnectionFailed(
            f"cannot reach {url}: {exc}", _retry_after_header(exc.response), permanent=status not in TRANSIENT_STATUSES
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise ConnectionFailed(
            f"cannot reach {url}: the hub's certificate could not be verified ({exc.verify_message}); "
            "if a private CA signed it, trust that CA (ozchat --cafile)",
            permanent=True,
        ) from None
    except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
        hint = ""
        if isinstance(exc, (websockets.InvalidMessage, ssl.SSLError, ConnectionResetError)):
            hint = await _transport_mismatch(url, min(timeout, 5.0))
        why = str(exc) or type(exc).__name__
        # An answer that is not HTTP/1.1 (a hub closing mid-handshake is an EOFError: that one is tried again).
        garbled = isinstance(exc, websockets.InvalidMessage) and not isinstance(exc.__cause__, (EOFError, OSError))
        if garbled and exc.__cause__ is not None:
            why = f"{why} ({exc.__cause__})"
        permanent = bool(hint) or garbled or isinstance(exc, (websockets.InvalidURI, *_NOT_A_HUB))
        raise ConnectionFailed(f"cannot reach {url}: {why}{hint}", permanent=permanent) from None
    try:
        await ws.send(encode(hello), text=True)
        return ws, decode_hub_frame(await asyncio.wait_for(ws.recv(), timeout))
    except (websockets.ConnectionClosed, TimeoutError, ProtocolError) as exc:
        await ws.close()
        raise ConnectionFailed(
            f"the hub at {url} did not answer the hello: {str(exc) or type(exc).__name__}",
            permanent=isinstance(exc, ProtocolError),  # it answered, but not in this protocol
        ) from None
    except asyncio.CancelledError:
        ws.transport.abort()  # stopped while waiting for the answer: nothing is left open
        raise


async def unless_stopped(work: Awaitable[T], stopping: asyncio.Event) -> asyncio.Future[T] | None:
    """Run `work` until it ends or `stopping` is set; the finished `work`, or None when the stop came first (`work`
    cancelled and awaited, so whatever it opened is closed)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((task, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return None if task.cancelled() else task


async def send_quietly(ws: ClientConnection, data: bytes) -> None:
    """Send if the socket is still up; a frame lost here is resent after reconnecting."""
    try:
        await ws.send(data, text=True)
    except websockets.ConnectionClosed:
        pass


async def keep_alive(ws: ClientConnection, interval: float, timeout: float | None) -> None:
    """Ping the hub every `interval` s; when it does not answer in time, drop the connection without a close frame.

    A close frame that reached the hub would say this client left (OFFLINE at once, its
    number gone); a lost connection keeps the number for the grace period, to resume.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            async with asyncio.timeout(timeout):
                await (await ws.ping())
        except TimeoutError:
            log.info("the hub did not answer a ping within %s s: reconnecting", timeout)
            ws.transport.abort()
            return
        except websockets.ConnectionClosed:
            return


def _retry_after_header(response: Any) -> float | None:
    """A 429 answer's Retry-After, in seconds (the hub sends whole seconds)."""
    if response is None or response.status_code != 429:
        return None
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


_CLOSE_REASONS = {
    1000: "closed",
    1001: "the hub is going away",
    1006: "the connection was lost",
    1009: "a frame was too large",
    1011: "the hub stopped answering, or failed",
    CloseCode.HELLO_TIMEOUT: "no hello in time",
    CloseCode.ACCESS_DENIED: "access denied",
    CloseCode.TOO_SLOW: "this client read too slowly",
    CloseCode.REPLACED: "replaced by a newer connection",
    CloseCode.RATE_LIMITED: "too many joins from this address",
}


def close_reason(ws: ClientConnection) -> str:
    """What ended a socket, in words: the hub's reason when it gave one."""
    if ws.close_reason:
        return ws.close_reason
    return _CLOSE_REASONS.get(ws.close_code or 1006, f"closed with code {ws.close_code}")


async def _transport_mismatch(url: str, timeout: float) -> str:
    """A hint when the hub at `url` speaks the other transport (TLS for ws://, plain for wss://)."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "wss" else 80)
    other = urlunsplit(parts._replace(scheme="ws" if parts.scheme == "wss" else "wss"))
    try:
        async with asyncio.timeout(timeout):
            if parts.scheme == "ws":
                # Only whether a TLS handshake succeeds there; nothing is sent or trusted.
                probe = ssl.create_default_context()
                probe.check_hostname = False
                probe.verify_mode = ssl.CERT_NONE
                _, writer = await asyncio.open_connection(host, port, ssl=probe)
                writer.close()
                return f"; the hub there speaks TLS: connect to {other}"
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(f"GET /healthz HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
                status = await reader.readline()
            finally:
                writer.close()
            if status.startswith(b"HTTP/"):
                return f"; the hub there does not speak TLS: connect to {other}"
    except (OSError, TimeoutError):
        pass
    return ""
