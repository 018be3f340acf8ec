"""AvatarService: the one object the UI asks for avatars; identicons for everyone else.

httpx (through the fetcher) is imported when the first avatar is resolved or fetched, and
Pillow with rich-pixels when the first picture is decoded; identicons need neither. So a chat
that starts, even on a line of a thousand people without pictures, pays for none of them.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..addresses import url_host
from ..images import RGB, AvatarError, AvatarErrorCode
from .image import Colour, check_size, identicon_pixels, to_rgb
from .render import RenderedAvatar, render_avatar, render_pixels

if TYPE_CHECKING:
    import httpx

    from .fetch import AvatarFetcher

DEFAULT_BACKGROUND: Colour = (0, 0, 0)


@dataclass(frozen=True, slots=True)
class AvatarResult:
    """What `AvatarService.load` gives: always an avatar to draw, and the error if it is a stand-in."""

    avatar: RenderedAvatar
    error: AvatarError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def identicon(seed: str, size: int) -> RenderedAvatar:
    """The generated stand-in for `seed` (a phone number or nickname), drawn at once (no Pillow needed)."""
    return render_pixels(identicon_pixels(seed, size))


class AvatarService:
    """The one object the UI talks to for avatars.

    `base_url` resolves values that are no absolute URL (a bundled name such as "cat", an
    uploaded "<hash>.png") against the hub; when no `fetcher` is given, one is made on first
    use that trusts the host of `base_url`, and with `cafile` the CA certificates in that PEM
    file (a hub with a private CA). Nothing is cached here: the fetcher keeps bodies on disk
    and fetches each URL once at a time; the caller keeps what it draws. Closing the service
    closes its fetcher.
    """

    def __init__(
        self,
        fetcher: AvatarFetcher | None = None,
        *,
        base_url: str | None = None,
        cafile: str | os.PathLike[str] | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._base_url = base_url
        self._base: httpx.URL | None = None
        self._cafile = cafile
        # Two decodes at a time: each may hold a full-size image in memory meanwhile.
        self._decoding = asyncio.Semaphore(2)

    @property
    def fetcher(self) -> AvatarFetcher:
        if self._fetcher is None:
            from .fetch import AvatarFetcher

            base = self._base_url_parsed()
            trusted = [_host_and_port(base)] if base is not None else []
            self._fetcher = AvatarFetcher(trusted_hosts=trusted, cafile=self._cafile)
        return self._fetcher

    def _base_url_parsed(self) -> httpx.URL | None:
        if self._base is None and self._base_url is not None:
            import httpx

            self._base = httpx.URL(self._base_url)
        return self._base

    async def __aenter__(self) -> AvatarService:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.aclose()

    def resolve(self, value: str) -> str:
        """The URL an avatar property points at: itself when absolute, else joined to `base_url`.

        Raises AvatarError (bad_url) for a value no URL can be made of: it comes from other users.
        """
        base = self._base_url_parsed()
        if base is None or "://" in value:
            return value
        import httpx

        try:
            return str(base.join(value))
        except httpx.InvalidURL as exc:
            raise AvatarError(AvatarErrorCode.BAD_URL, f"not a usable avatar address: {exc}") from None

    async def load(
        self, url: str, size: int, background: Colour = DEFAULT_BACKGROUND, *, seed: str | None = None
    ) -> AvatarResult:
        """Fetch, decode (in a thread) and draw the avatar at `url`, `size` pixels square.

        Transparent parts show `background`. On failure the result carries the error and the
        identicon of `seed` (default: the URL).
        """
        check_size(size)
        colour = to_rgb(background)
        try:
            avatar = await self._load(self.resolve(url), size, colour)
        except AvatarError as error:
            return AvatarResult(identicon(seed if seed is not None else url, size), error)
        return AvatarResult(avatar)

    async def _load(self, url: str, size: int, colour: RGB) -> RenderedAvatar:
        if self._fetcher is None:
            # The first fetch brings in httpx and httpcore: imported in a thread, not on the UI's loop.
            await asyncio.to_thread(importlib.import_module, "ozchat.avatars.fetch")
        data = await self.fetcher.fetch(url)
        async with self._decoding:
            return await asyncio.to_thread(render_avatar, data, size, colour)


def _host_and_port(url: httpx.URL) -> str:
    return f"{url_host(url.host)}:{url.port or (443 if url.scheme == 'https' else 80)}"
