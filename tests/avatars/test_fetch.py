"""Avatars fetched from a real HTTP server on 127.0.0.1: formats, hostile servers, dedup and cache."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

import ozchat.avatars.service as service_module
from ozchat.avatars import AvatarError, AvatarErrorCode, AvatarFetcher, AvatarService, identicon
from ozchat.avatars.fetch import NameLookup, is_public_address, system_lookup
from ozchat.bundled_avatars import bundled_avatar

from .helpers import (
    BLUE,
    GREEN,
    RED,
    YELLOW,
    AvatarServer,
    Request,
    close,
    damaged_images,
    encode,
    etag_of,
    head,
    noise,
    pixels,
    png_header,
    quadrants,
)

MiB = 1024 * 1024


def sample(fmt: str) -> bytes:
    if fmt == "GIF":
        frames = [quadrants(), Image.new("RGB", (64, 64), (255, 0, 255))]
        return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    if fmt == "WEBP":
        return encode(quadrants().convert("RGBA"), "WEBP", lossless=True)
    return encode(quadrants(), fmt, **({"quality": 95} if fmt == "JPEG" else {}))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
async def test_each_format_is_drawn_as_pixel_art(server: AvatarServer, service: AvatarService, fmt: str) -> None:
    data = sample(fmt)
    server.image("/avatar", data, content_type=f"image/{fmt.lower()}")

    result = await service.load(server.url("/avatar"), 10, (0, 0, 0), seed="Qdb3W")

    assert result.ok, result.error
    assert (result.avatar.width, result.avatar.height) == (10, 5)
    grid = pixels(result.avatar)
    # The colours come from the picture (the GIF's magenta second frame never shows).
    assert close(grid[0][0], RED) and close(grid[0][9], GREEN)
    assert close(grid[9][0], BLUE) and close(grid[9][9], YELLOW)
    again = await service.load(server.url("/avatar"), 10, (0, 0, 0), seed="Qdb3W")
    assert again.avatar == result.avatar


async def test_transparent_webp_shows_the_given_background(server: AvatarServer, service: AvatarService) -> None:
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((*GREEN, 255), (10, 10, 30, 30))
    server.image("/ghost.webp", encode(image, "WEBP", lossless=True), content_type="image/webp")

    result = await service.load(server.url("/ghost.webp"), 8, "#203040")

    grid = pixels(result.avatar)
    assert grid[0][0] == (0x20, 0x30, 0x40) and close(grid[4][4], GREEN)


# ---- hostile servers ------------------------------------------------------------------


async def body_of_50_mib(request: Request, writer: asyncio.StreamWriter, *, declared: bool) -> None:
    """50 MiB of PNG-looking bytes, written a chunk at a time, chunked or with a true Content-Length."""
    size = 50 * MiB
    chunk = b"\x89PNG\r\n\x1a\n" + b"\0" * (64 * 1024 - 8)
    if declared:
        writer.write(head("200 OK", {"Content-Type": "image/png", "Content-Length": str(size)}))
    else:
        writer.write(head("200 OK", {"Content-Type": "image/png", "Transfer-Encoding": "chunked"}))
    sent = 0
    while sent < size:
        writer.write(chunk if declared else b"%x\r\n%b\r\n" % (len(chunk), chunk))
        await writer.drain()
        sent += len(chunk)
        request.headers["x-sent"] = str(sent)


async def lying_length(request: Request, writer: asyncio.StreamWriter, *, declared: int, actual: bytes) -> None:
    writer.write(head("200 OK", {"Content-Type": "image/png", "Content-Length": str(declared)}) + actual)


async def trickle(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(head("200 OK", {"Content-Type": "image/png", "Content-Length": "1000"}))
    for _ in range(60):
        writer.write(b"\0")
        await writer.drain()
        await asyncio.sleep(1)


HOSTILE = {
    "404": ("/missing.png", AvatarErrorCode.HTTP_STATUS),
    "not-an-image": ("/page.png", AvatarErrorCode.NOT_AN_IMAGE),
    "tiff-named-png": ("/tiff.png", AvatarErrorCode.UNSUPPORTED_FORMAT),
    "bomb-header": ("/bomb.png", AvatarErrorCode.TOO_MANY_PIXELS),
    "50MiB-chunked": ("/huge-chunked.png", AvatarErrorCode.TOO_LARGE),
    "50MiB-declared": ("/huge.png", AvatarErrorCode.TOO_LARGE),
    "length-says-less": ("/says-less.png", AvatarErrorCode.CORRUPT),
    "length-says-more": ("/says-more.png", AvatarErrorCode.CONNECTION_FAILED),
    "trickle": ("/trickle.png", AvatarErrorCode.TIMEOUT),
    "redirect-loop": ("/loop-a", AvatarErrorCode.REDIRECT_LOOP),
    "redirect-chain": ("/hop-0", AvatarErrorCode.TOO_MANY_REDIRECTS),
    "redirect-to-file": ("/to-file", AvatarErrorCode.BAD_URL),
}


def serve_hostile(server: AvatarServer) -> None:
    server.image("/page.png", b"<!doctype html><title>Oops</title>", content_type="image/png")
    server.image("/tiff.png", encode(quadrants(), "TIFF"), content_type="image/png")
    server.image("/bomb.png", png_header(20000, 20000))
    server.routes["/huge-chunked.png"] = lambda r, w: body_of_50_mib(r, w, declared=False)
    server.routes["/huge.png"] = lambda r, w: body_of_50_mib(r, w, declared=True)
    real = encode(quadrants(256), "PNG", compress_level=0)
    server.routes["/says-less.png"] = lambda r, w: lying_length(r, w, declared=1000, actual=real)
    server.routes["/says-more.png"] = lambda r, w: lying_length(r, w, declared=100_000, actual=real[:10])
    server.routes["/trickle.png"] = trickle
    server.redirect("/loop-a", "/loop-b")
    server.redirect("/loop-b", server.url("/loop-a"))
    for hop in range(6):
        server.redirect(f"/hop-{hop}", f"/hop-{hop + 1}")
    server.redirect("/to-file", "file:///etc/passwd")


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_avatar_falls_back_to_the_identicon_with_a_reason(
    server: AvatarServer, tmp_path: Path, case: str
) -> None:
    serve_hostile(server)
    path, code = HOSTILE[case]
    # A short deadline keeps the trickle case quick; the others end long before it.
    fetcher = AvatarFetcher(trusted_hosts=[server.host], cache_dir=tmp_path, deadline=1.5)
    async with AvatarService(fetcher) as service:
        result = await service.load(server.url(path), 8, seed="Qdb3W")

        assert not result.ok and result.error is not None
        assert result.error.code is code, result.error
        assert result.avatar == identicon("Qdb3W", 8)
        if code is AvatarErrorCode.HTTP_STATUS:
            assert result.error.status == 404
    if case.startswith("50MiB"):
        request = next(r for r in server.requests if r.path == path)
        assert int(request.headers.get("x-sent", 0)) < 40 * MiB  # streamed and cut, not read to the end


async def test_damaged_images_come_back_as_the_identicon_with_the_reason(
    server: AvatarServer, service: AvatarService
) -> None:
    """`load` never raises: every truncated or inflating image is `corrupt`, drawn as the seed's identicon."""
    damaged = damaged_images()
    for index, data in enumerate(damaged.values()):
        server.image(f"/damaged-{index}.png", data)
    results = await asyncio.gather(
        *(service.load(server.url(f"/damaged-{index}.png"), 8, seed="Qdb3W") for index in range(len(damaged)))
    )
    codes = {name: result.error.code if result.error else None for name, result in zip(damaged, results, strict=True)}
    assert codes == {
        name: AvatarErrorCode.CORRUPT for name in damaged
    }
    assert all(result.avatar == identicon("Qdb3W", 8) for result in results)


async def test_failures_are_remembered_for_a_while(server: AvatarServer, service: AvatarService) -> None:
    first = await service.load(server.url("/missing.png"), 8)
    second = await service.load(server.url("/missing.png"), 8)

    assert first.error is not None and second.error is not None
    assert first.error.code is second.error.code is AvatarErrorCode.HTTP_STATUS
    assert server.count("/missing.png") == 1


async def test_redirects_within_limits_are_followed(server: AvatarServer, fetcher: AvatarFetcher) -> None:
    data = sample("PNG")
    server.image("/real.png", data)
    server.redirect("/moved", "/real.png")

    assert await fetcher.fetch(server.url("/moved")) == data


# ---- whose addresses are contacted --------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "192.168.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1"]
)
async def test_private_and_loopback_addresses_are_refused_by_default(
    server: AvatarServer, tmp_path: Path, host: str
) -> None:
    server.image("/cat.png", sample("PNG"))
    async with AvatarFetcher(cache_dir=tmp_path, deadline=3.0) as fetcher:
        with pytest.raises(AvatarError) as caught:
            await fetcher.fetch(f"http://{host}:{server.port}/cat.png")

    assert caught.value.code is AvatarErrorCode.REFUSED_ADDRESS
    assert server.requests == []


async def test_allow_private_fetches_from_loopback(server: AvatarServer, tmp_path: Path) -> None:
    server.image("/cat.png", data := sample("PNG"))
    async with AvatarFetcher(cache_dir=tmp_path, allow_private=True) as fetcher:
        assert await fetcher.fetch(server.url("/cat.png")) == data


async def test_a_redirect_from_the_trusted_host_to_another_private_one_is_refused(
    server: AvatarServer, fetcher: AvatarFetcher
) -> None:
    server.image("/cat.png", sample("PNG"))
    server.redirect("/elsewhere", f"http://localhost:{server.port}/cat.png")

    with pytest.raises(AvatarError) as caught:
        await fetcher.fetch(server.url("/elsewhere"))
    assert caught.value.code is AvatarErrorCode.REFUSED_ADDRESS
    assert server.count("/cat.png") == 0


def fake_dns(answers: dict[str, list[str]]) -> NameLookup:
    """A name lookup that answers the names in `answers` with those addresses, and others as the system does."""

    def lookup(host: str, port: int) -> list[str]:
        return answers[host] if host in answers else system_lookup(host, port)

    return lookup


async def test_a_name_with_any_private_address_is_refused(server: AvatarServer, tmp_path: Path) -> None:
    lookup = fake_dns({"avatars.example": ["93.184.216.34", "127.0.0.1"]})
    async with AvatarFetcher(cache_dir=tmp_path, lookup=lookup) as fetcher:
        with pytest.raises(AvatarError) as caught:
            await fetcher.fetch(f"http://avatars.example:{server.port}/cat.png")
    assert caught.value.code is AvatarErrorCode.REFUSED_ADDRESS
    assert "127.0.0.1" in caught.value.message


async def test_the_connection_goes_to_the_checked_address(server: AvatarServer, tmp_path: Path) -> None:
    # No real resolver knows this name: the only way to reach the server is the address we checked.
    lookup = fake_dns({"avatars.example": ["127.0.0.1"]})
    server.image("/cat.png", data := sample("PNG"))
    async with AvatarFetcher(cache_dir=tmp_path, allow_private=True, lookup=lookup) as fetcher:
        assert await fetcher.fetch(f"http://avatars.example:{server.port}/cat.png") == data
    assert server.requests[0].headers["host"] == f"avatars.example:{server.port}"


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "data:image/png;base64,AA==", "nope"])
async def test_only_http_urls_are_fetched(fetcher: AvatarFetcher, url: str) -> None:
    with pytest.raises(AvatarError) as caught:
        await fetcher.fetch(url)
    assert caught.value.code is AvatarErrorCode.BAD_URL


def test_public_addresses_are_told_from_the_rest() -> None:
    assert is_public_address("93.184.216.34") and is_public_address("2606:2800:220:1::1")
    for address in [
        "::ffff:127.0.0.1", "2002:7f00:1::1", "64:ff9b::a00:1", "ff02::1", "100.64.0.1", "fe80::1%2",
        # IPv4-compatible, IPv4-translated and local-NAT64 forms that could tunnel to private IPv4
        "::127.0.0.1", "::ffff:0:127.0.0.1", "::169.254.169.254", "64:ff9b:1::a00:1",
    ]:
        assert not is_public_address(address), address


# ---- dedup and cache ----------------------------------------------------------------


async def test_concurrent_loads_of_one_url_make_one_request(server: AvatarServer, service: AvatarService) -> None:
    server.image("/popular.png", sample("PNG"))

    results = await asyncio.gather(*(service.load(server.url("/popular.png"), 8) for _ in range(50)))

    assert server.count("/popular.png") == 1
    assert all(result.ok and result.avatar == results[0].avatar for result in results)


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
async def test_a_new_fetcher_revalidates_its_disk_cache(server: AvatarServer, tmp_path: Path, validator: str) -> None:
    data = sample("PNG")
    value = etag_of(data) if validator == "etag" else "Wed, 21 Oct 2015 07:28:00 GMT"
    server.image("/cat.png", data, **{validator: value})
    async with AvatarFetcher(trusted_hosts=[server.host], cache_dir=tmp_path) as first:
        assert await first.fetch(server.url("/cat.png")) == data
        assert await first.fetch(server.url("/cat.png")) == data  # fresh: no second request

    async with AvatarFetcher(trusted_hosts=[server.host], cache_dir=tmp_path) as second:
        assert await second.fetch(server.url("/cat.png")) == data

    header = "if-none-match" if validator == "etag" else "if-modified-since"
    assert [request.headers.get(header) for request in server.requests] == [None, value]


async def test_bundled_names_resolve_against_the_hub(
    server: AvatarServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the default cache directory, in the test's
    cat = bundled_avatar("cat")
    assert cat is not None
    server.image("/avatars/cat", cat)
    # The service trusts the host of its base URL by itself.
    async with AvatarService(base_url=server.url("/avatars/")) as service:
        assert service.fetcher.cache_dir.is_relative_to(tmp_path)
        result = await service.load("cat", 16)

    assert result.ok, result.error
    assert server.count("/avatars/cat") == 1


async def test_a_cached_avatar_outlives_its_server(server: AvatarServer, tmp_path: Path) -> None:
    data = sample("PNG")
    server.image("/cat.png", data, etag=etag_of(data))
    async with AvatarFetcher(trusted_hosts=[server.host], cache_dir=tmp_path) as first:
        assert await first.fetch(server.url("/cat.png")) == data
    await server.stop()

    async with AvatarFetcher(trusted_hosts=[server.host], cache_dir=tmp_path) as second:
        assert await second.fetch(server.url("/cat.png")) == data
        with pytest.raises(AvatarError) as caught:
            await second.fetch(server.url("/never-seen.png"))
    assert caught.value.code is AvatarErrorCode.CONNECTION_FAILED


async def test_fetches_are_bounded_and_a_waiter_giving_up_cancels_nothing(
    server: AvatarServer, tmp_path: Path
) -> None:
    data = sample("PNG")
    running, most = 0, 0

    async def slow(request: Request, writer: asyncio.StreamWriter) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        writer.write(head("200 OK", {"Content-Type": "image/png", "Content-Length": str(len(data))}) + data)

    paths = [f"/slow-{index}.png" for index in range(8)]
    for path in paths:
        server.routes[path] = slow
    async with AvatarFetcher(trusted_hosts=[server.host], cache_dir=tmp_path, max_concurrency=2) as fetcher:
        impatient = asyncio.create_task(fetcher.fetch(server.url(paths[0])))
        patient = asyncio.create_task(fetcher.fetch(server.url(paths[0])))
        await asyncio.sleep(0)
        impatient.cancel()
        bodies = await asyncio.gather(*(fetcher.fetch(server.url(path)) for path in paths[1:]))

        assert await patient == data and bodies == [data] * 7
    assert most <= 2 and server.count(paths[0]) == 1


async def test_a_service_for_an_ipv6_hub_trusts_that_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's own host is trusted even when it is an IPv6 literal such as [::1]."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    async with AvatarService(base_url="http://[::1]:9/avatars/") as service:
        result = await service.load("cat", 8)
    # Trusted, so the fetch was tried (nothing listens there) rather than refused as loopback.
    assert result.error is not None and result.error.code is AvatarErrorCode.CONNECTION_FAILED


class _CountingFetcher(AvatarFetcher):
    """A real fetcher that counts the fetches it has finished."""

    fetched = 0

    async def fetch(self, url: str) -> bytes:
        data = await super().fetch(url)
        self.fetched += 1
        return data


async def _until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 10)


async def test_at_most_two_avatars_are_decoded_at_once(
    server: AvatarServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each decode may hold a full-size picture in memory, so a crowd of new avatars waits its turn.

    Decodes block until the test lets them go, so two surely overlap; the test lets them go only
    once all six images are fetched and their decodes asked for, so a third would have started.
    """
    real, lock, release = service_module.render_avatar, threading.Lock(), threading.Event()
    running = peak = 0

    def held(*args: object) -> object:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            release.wait()
            return real(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(service_module, "render_avatar", held)
    for i in range(6):
        server.image(f"/n{i}.png", encode(noise(seed=i), "PNG"))
    fetcher = _CountingFetcher(trusted_hosts=[server.host], cache_dir=tmp_path)
    async with AvatarService(fetcher) as service:
        loads = [asyncio.create_task(service.load(server.url(f"/n{i}.png"), 8)) for i in range(6)]
        try:
            await _until(lambda: (running == 2 and fetcher.fetched == 6) or running > 2)
            for _ in range(10):
                await asyncio.sleep(0)  # the fetched loads go on to ask for a decode
            assert peak == 2
        finally:
            release.set()
        results = await asyncio.gather(*loads)
    assert all(result.ok for result in results)
    assert peak == 2
