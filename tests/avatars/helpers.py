"""A real HTTP/1.1 server on 127.0.0.1 for the avatar tests, and sample images made on the spot."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import random
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from PIL import Image


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def head(status: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class AvatarServer:
    """Serves registered routes, one request per connection, and records every request."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def count(self, path: str) -> int:
        return sum(1 for request in self.requests if request.path == path)

    def image(self, path: str, data: bytes, content_type: str = "image/png", **validators: str) -> None:
        """Serve `data` at `path`; answer 304 to a matching If-None-Match / If-Modified-Since."""
        etag = validators.get("etag")
        last_modified = validators.get("last_modified")

        async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
            if (etag and request.headers.get("if-none-match") == etag) or (
                last_modified and request.headers.get("if-modified-since") == last_modified
            ):
                writer.write(head("304 Not Modified"))
                return
            headers = {"Content-Type": content_type, "Content-Length": str(len(data))}
            if etag:
                headers["ETag"] = etag
            if last_modified:
                headers["Last-Modified"] = last_modified
            writer.write(head("200 OK", headers) + data)

        self.routes[path] = handler

    def redirect(self, path: str, location: str) -> None:
        async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
            writer.write(head("302 Found", {"Location": location, "Content-Length": "0"}))

        self.routes[path] = handler

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = raw.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            request = Request(method, path, headers)
            self.requests.append(request)
            handler = self.routes.get(path, _not_found)
            await handler(request, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # the server is stopping; a slow handler just ends
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _not_found(request: Request, writer: asyncio.StreamWriter) -> None:
    body = b"no such avatar"
    writer.write(head("404 Not Found", {"Content-Type": "text/plain", "Content-Length": str(len(body))}) + body)


# ---- sample images -------------------------------------------------------------------

RED = (220, 30, 40)
GREEN = (30, 200, 60)
BLUE = (40, 60, 230)
YELLOW = (240, 220, 30)


def quadrants(side: int = 64) -> Image.Image:
    """Four solid quadrants: red, green (top), blue, yellow (bottom)."""
    image = Image.new("RGB", (side, side))
    half = side // 2
    for colour, box in ((RED, (0, 0)), (GREEN, (half, 0)), (BLUE, (0, half)), (YELLOW, (half, half))):
        image.paste(colour, (*box, box[0] + half, box[1] + half))
    return image


def noise(side: int = 64, seed: int = 1) -> Image.Image:
    """An image that does not compress: every pixel from a seeded random stream."""
    return Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3))


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG claiming `width` x `height` pixels, a few dozen bytes long (a decompression bomb's header)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def etag_of(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()[:16]}"'


def pixels(avatar: object) -> list[list[tuple[int, int, int]]]:
    """The pixel grid a rendered avatar shows: each cell's background is the upper pixel, its "▄" the lower."""
    grid: list[list[tuple[int, int, int]]] = []
    for line in avatar.lines:  # type: ignore[attr-defined]
        upper, lower = [], []
        for segment in line:
            assert segment.text == "▄"
            upper.append(segment.style.bgcolor.get_truecolor())
            lower.append(segment.style.color.get_truecolor())
        grid += [[tuple(c) for c in upper], [tuple(c) for c in lower]]
    return grid


def close(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


# ---- damaged images ------------------------------------------------------------------

ACCEPTED = {
    "png": ("PNG", {}),
    "jpeg": ("JPEG", {}),
    "gif": ("GIF", {}),
    "webp": ("WEBP", {}),
    "webp-lossless": ("WEBP", {"lossless": True}),
}


def sample(kind: str, side: int = 40) -> bytes:
    """A small picture in one of the accepted formats (`ACCEPTED`), with transparency where it has any."""
    fmt, params = ACCEPTED[kind]
    picture = quadrants(side).convert("RGBA")
    picture.putpixel((0, 0), (0, 0, 0, 0))
    return encode(picture.convert("RGB") if fmt == "JPEG" else picture, fmt, **params)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_with_chunk(kind: bytes, payload: bytes) -> bytes:
    """A valid 4x4 PNG with one more chunk right after its header."""
    png = encode(Image.new("RGB", (4, 4)), "PNG")
    end_of_ihdr = 8 + 25
    return png[:end_of_ihdr] + _chunk(kind, payload) + png[end_of_ihdr:]


def inflating_png(kind: bytes) -> bytes:
    """A PNG of a few dozen KiB whose zTXt or iCCP chunk inflates to 64 MiB (a decompression bomb)."""
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024), 9)
    return png_with_chunk(kind, (b"Comment\0\0" if kind == b"zTXt" else b"icc\0\0") + bomb)


def truncations(kind: str) -> dict[str, bytes]:
    """Cuts of a sample image that keep its signature: at 16 bytes, and a quarter, half and three quarters in."""
    data = sample(kind)
    return {f"{kind}[:{cut}]": data[:cut] for cut in (16, len(data) // 4, len(data) // 2, 3 * len(data) // 4)}


def damaged_images() -> dict[str, bytes]:
    """Every kind of damage the decoders must report as `corrupt`, by name."""
    damaged = {name: data for kind in ACCEPTED for name, data in truncations(kind).items()}
    damaged["png-zTXt-bomb"] = inflating_png(b"zTXt")
    damaged["png-iCCP-bomb"] = inflating_png(b"iCCP")
    return damaged
