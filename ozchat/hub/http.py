"""The hub's plain HTTP: /healthz, /avatars/<name>, /ozwebclient.js, the web chat page, and the checks
before a WebSocket upgrade.

Avatar images are read (and Pillow loaded) only when one is asked for, off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import math
from collections.abc import Callable, Collection, Coroutine
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from ..bundled_avatars import bundled_avatar
from ..protocol import PROTOCOL_VERSION
from .limits import AddressLimiter, Network, client_address
from .origins import normalize_origin, origin_allowed
from .pages import is_page_path, page_file, security_headers, web_file

if TYPE_CHECKING:
    from .avatars import UploadStore


class HttpRoutes:
    """Answers what is not a WebSocket upgrade, and turns away upgrades the hub will not take."""

    def __init__(
        self,
        *,
        counts: Callable[[], tuple[int, int]],
        uploads: UploadStore | None = None,
        allowed_origins: Collection[str] = (),
        limiter: AddressLimiter | None = None,
        trusted_proxies: Collection[str] = (),
    ) -> None:
        """`counts` gives the lines and clients /healthz reports."""
        self._counts = counts
        self.uploads = uploads
        self._allowed_origins = {
            "*" if origin == "*" else normalize_origin(origin) or origin for origin in allowed_origins
        }
        self._limiter = limiter
        self._trusted_proxies: list[Network] = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies]

    def client_address(self, connection: ServerConnection, request: Request | None) -> str:
        """Who the rate limits count this connection as: its peer, or who a trusted proxy forwarded."""
        forwarded = request.headers.get_all("X-Forwarded-For") if request is not None and self._trusted_proxies else []
        return client_address(str(connection.remote_address[0]), forwarded, self._trusted_proxies)

    def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | Coroutine[None, None, Response] | None:
        """An HTTP response (to be awaited for files read off the loop), or None to go on with the handshake."""
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            lines, clients = self._counts()
            body = {"status": "ok", "version": PROTOCOL_VERSION, "lines": lines, "clients": clients}
            return respond(connection, HTTPStatus.OK, (json.dumps(body) + "\n").encode(), "application/json")
        if path.startswith("/avatars/"):
            return self._avatar_response(connection, request, path.removeprefix("/avatars/"))
        if path == "/ozwebclient.js":
            return _script_response(connection, request)
        if is_page_path(path) and not _asks_for_websocket(request):
            return _page_response(connection, request, path)
        origins = request.headers.get_all("Origin")
        if origins and not self._origin_allowed(connection, request, origins):
            return respond(connection, HTTPStatus.FORBIDDEN, b"this origin may not connect to the hub\n", "text/plain")
        if self._limiter is not None:
            wait = self._limiter.connection(self.client_address(connection, request), asyncio.get_running_loop().time())
            if wait is not None:
                response = respond(
                    connection, HTTPStatus.TOO_MANY_REQUESTS, b"too many connections from this address\n", "text/plain"
                )
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
        return None

    def _origin_allowed(self, connection: ServerConnection, request: Request, origins: list[str]) -> bool:
        """A browser's handshake (it sent an Origin): from a page this hub may serve."""
        hosts = request.headers.get_all("Host")
        host = hosts[0] if len(hosts) == 1 else None
        loopback = _is_loopback_address(connection.local_address)
        return len(origins) == 1 and origin_allowed(origins[0], host, self._allowed_origins, loopback_hub=loopback)

    async def _avatar_response(self, connection: ServerConnection, request: Request, name: str) -> Response:
        """A bundled or uploaded avatar as image/png, revalidated by its ETag."""
        png = await asyncio.to_thread(self._avatar_bytes, name)
        if png is None:
            return respond(connection, HTTPStatus.NOT_FOUND, b"no such avatar\n", "text/plain")
        return _revalidated(connection, request, png, "image/png", _etag_of(png), "public, max-age=3600")

    def _avatar_bytes(self, name: str) -> bytes | None:
        found = bundled_avatar(name)
        if found is None and self.uploads is not None:
            found = self.uploads.get(name)
        return found


def _etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@cache
def _etag(name: str) -> str:
    """The ETag of a shipped web file, worked out once (the files do not change while the hub runs)."""
    return _etag_of(web_file(name))


def _revalidated(
    connection: ServerConnection, request: Request, body: bytes, content_type: str, etag: str, cache_control: str
) -> Response:
    """`body`, or 304 when the request already holds this ETag."""
    if request.headers.get("If-None-Match") == etag:
        response = respond(connection, HTTPStatus.NOT_MODIFIED, b"", content_type)
    else:
        response = respond(connection, HTTPStatus.OK, body, content_type)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache_control
    return response


async def _script_response(connection: ServerConnection, request: Request) -> Response:
    """The OzWebClient library; revalidated on every use, so a page never runs one older than its hub."""
    body = await asyncio.to_thread(web_file, "ozwebclient.js")
    response = _revalidated(
        connection, request, body, "text/javascript; charset=utf-8", _etag("ozwebclient.js"), "no-cache"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _asks_for_websocket(request: Request) -> bool:
    return any(value.strip().lower() == "websocket" for value in request.headers.get_all("Upgrade"))


def _page_response(connection: ServerConnection, request: Request, path: str) -> Response:
    """The web chat page or one of its files, with the headers that keep it to this hub."""
    found = page_file(path)
    if found is None:
        response = respond(connection, HTTPStatus.NOT_FOUND, b"no such line name\n", "text/plain")
    else:
        name, content_type = found
        response = respond(connection, HTTPStatus.OK, web_file(name), content_type)
    hosts = request.headers.get_all("Host")
    for header, value in security_headers(hosts[0] if len(hosts) == 1 else None).items():
        response.headers[header] = value
    return response


def _is_loopback_address(address: object) -> bool:
    try:
        return ipaddress.ip_address(address[0]).is_loopback  # type: ignore[index]
    except (TypeError, IndexError, ValueError):
        return False


def respond(connection: ServerConnection, status: HTTPStatus, body: bytes, content_type: str) -> Response:
    """A response with exactly this body and content type."""
    response = connection.respond(status, "")
    response.body = body
    del response.headers["Content-Type"]
    del response.headers["Content-Length"]
    response.headers["Content-Type"] = content_type
    response.headers["Content-Length"] = str(len(body))
    return response
