"""Avatar pipeline timings, run by hand: python benchmarks/avatars.py

1. Median time to decode + resize + render one avatar from bytes already in hand.
2. Time to produce 200 rendered sidebar avatars from 200 distinct images: in one thread, through
   asyncio.to_thread as the service does, and end to end through AvatarService from a loopback
   HTTP server (cold disk cache, then a new fetcher revalidating every URL).
"""

from __future__ import annotations

import asyncio
import io
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw, ImageFilter

from ozchat.avatars import AvatarFetcher, AvatarService, identicon
from ozchat.avatars.render import render_avatar

SIDEBAR = 8
PROFILE = 32
COUNT = 200


def portrait(seed: int, side: int) -> Image.Image:
    """A photo-like picture: a soft gradient, a face-ish ellipse, noise; distinct for every seed."""
    rng = random.Random(seed)
    top, bottom = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(2)]
    image = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    image = Image.composite(Image.new("RGB", image.size, bottom), Image.new("RGB", image.size, top), image.convert("L"))
    draw = ImageDraw.Draw(image)
    skin = tuple(rng.randrange(120, 240) for _ in range(3))
    draw.ellipse((side * 0.25, side * 0.15, side * 0.75, side * 0.8), fill=skin)
    for eye in (0.38, 0.62):
        draw.ellipse((side * (eye - 0.04), side * 0.4, side * (eye + 0.04), side * 0.46), fill=(20, 20, 20))
    noise = Image.effect_noise((side, side), 24).convert("RGB")
    return Image.blend(image, noise, 0.08).filter(ImageFilter.SMOOTH)


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def median_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


IMAGES: dict[str, bytes] = {}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = IMAGES.get(self.path)
        if data is None:
            self.send_error(404)
            return
        etag = f'"{hash(data) & 0xFFFFFFFF:x}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


async def through_service(host: str, paths: list[str], cache_dir: str) -> float:
    start = time.perf_counter()
    fetcher = AvatarFetcher(trusted_hosts=[host], cache_dir=cache_dir)
    async with AvatarService(fetcher) as service:
        results = await asyncio.gather(*(service.load(f"http://{host}{path}", SIDEBAR) for path in paths))
    assert all(result.ok for result in results), [r.error for r in results if r.error][:3]
    return time.perf_counter() - start


async def via_threads(blobs: list[bytes]) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(asyncio.to_thread(render_avatar, data, SIDEBAR, (0, 0, 0)) for data in blobs))
    return time.perf_counter() - start


def main() -> None:
    print("one avatar from bytes in hand (decode + resize + render), median")
    for label, data in [
        ("256x256 JPEG", encode(portrait(1, 256), "JPEG")),
        ("512x512 PNG ", encode(portrait(2, 512), "PNG")),
        ("1024x1024 JPEG", encode(portrait(3, 1024), "JPEG")),
        ("1024x1024 PNG", encode(portrait(4, 1024), "PNG")),
    ]:
        figures = [
            f"{size}px {median_ms(lambda d=data, s=size: render_avatar(d, s, (0, 0, 0)), 30):7.2f} ms"
            for size in (SIDEBAR, PROFILE)
        ]
        print(f"  {label:15} ({len(data) // 1024:5d} KiB)  " + "   ".join(figures))
    for size in (SIDEBAR, PROFILE):
        ms = median_ms(lambda s=size: identicon("Qdb3W", s), 200)  # as the sidebar draws one, without Pillow
        print(f"  identicon {size}px: {ms:.3f} ms")

    blobs = [encode(portrait(seed, 256), "JPEG") for seed in range(COUNT)]
    start = time.perf_counter()
    for data in blobs:
        render_avatar(data, SIDEBAR, (0, 0, 0))
    sequential = time.perf_counter() - start
    threaded = asyncio.run(via_threads(blobs))
    print(f"\n{COUNT} distinct 256x256 JPEGs as {SIDEBAR}px sidebar avatars")
    print(f"  one thread:               {sequential * 1000:7.1f} ms  ({sequential / COUNT * 1000:.2f} ms each)")
    print(f"  asyncio.to_thread, gather: {threaded * 1000:7.1f} ms")

    IMAGES.update({f"/a/{index}.jpg": data for index, data in enumerate(blobs)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = asyncio.run(through_service(host, list(IMAGES), cache_dir))
        revalidated = asyncio.run(through_service(host, list(IMAGES), cache_dir))
    server.shutdown()
    print(f"  AvatarService over loopback HTTP, cold cache:       {cold * 1000:7.1f} ms")
    print(f"  AvatarService, new fetcher revalidating (304s):      {revalidated * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
