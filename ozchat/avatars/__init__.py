"""Avatars for the UI: fetched with httpx, decoded with Pillow in a thread, drawn with rich-pixels.

    async with AvatarService(base_url="http://hub:7779/avatars/") as avatars:
        row.avatar = identicon(info.phone_number, 8)                # at once
        result = await avatars.load(info["avatar"], 8, "#1e1e1e", seed=info.phone_number)
        row.avatar = result.avatar                                  # the picture, or the identicon
        if result.error: row.tooltip = result.error.message

`load` never raises for a bad avatar: the failure comes back as `result.error`, with a stable
`code`, and `result.avatar` is then the identicon of `seed`.
"""

from __future__ import annotations

import asyncio
import functools
import os
from dataclasses import dataclass

import httpx

from ._shared import SharedCalls
from .errors import AvatarError, AvatarErrorCode
from .fetch import AvatarFetcher, default_cache_dir
from .image import Colour, check_size, identicon_image, to_rgb
from .render import RenderCache, RenderedAvatar, RenderKey, render_avatar, render_image, render_key

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
    """The generated stand-in for `seed` (a phone number or nickname), drawn at once."""
    return _identicon(seed, check_size(size))


@functools.lru_cache(maxsize=1024)
def _identicon(seed: str, size: int) -> RenderedAvatar:
    return render_image(identicon_image(seed, size))


class AvatarService:
    """The one object the UI talks to for avatars.

    `base_url` resolves values that are no absolute URL (a bundled name such as "cat", an
    uploaded "<hash>.png") against the hub; when no `fetcher` is given, one is made that
    trusts the host of `base_url`, and with `cafile` the CA certificates in that PEM file (a
    hub with a private CA). Renderings are cached per (image bytes, size, background),
    `cache_size` of them at most. Closing the service closes its fetcher.
    """

    def __init__(
        self,
        fetcher: AvatarFetcher | None = None,
        *,
        base_url: str | None = None,
        cache_size: int = 512,
        cafile: str | os.PathLike[str] | None = None,
    ) -> None:
        self._base = httpx.URL(base_url) if base_url is not None else None
        if fetcher is None:
            trusted = [_host_and_port(self._base)] if self._base else []
            fetcher = AvatarFetcher(trusted_hosts=trusted, cafile=cafile)
        self.fetcher = fetcher
        self._renders = RenderCache(cache_size)
        # Two decodes at a time: each may hold a full-size image in memory meanwhile.
        self._decoding = asyncio.Semaphore(2)
        self._inflight: SharedCalls[RenderKey, RenderedAvatar] = SharedCalls()

    async def __aenter__(self) -> AvatarService:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._inflight.cancel_all()
        await self.fetcher.aclose()

    def resolve(self, value: str) -> str:
        """The URL an avatar property points at: itself when absolute, else joined to `base_url`.

        Raises AvatarError (bad_url) for a value no URL can be made of: it comes from other users.
        """
        if self._base is None or "://" in value:
            return value
        try:
            return str(self._base.join(value))
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

    async def _load(self, url: str, size: int, colour: tuple[int, int, int]) -> RenderedAvatar:
        data = await self.fetcher.fetch(url)
        key = render_key(data, size, colour)
        return await self._inflight.run(key, lambda: self._render(data, key))

    async def _render(self, data: bytes, key: RenderKey) -> RenderedAvatar:
        entry = self._renders.get(key)
        if entry is None:
            try:
                async with self._decoding:
                    entry = await asyncio.to_thread(render_avatar, data, key[1], key[2])
            except AvatarError as error:
                entry = error
            self._renders.put(key, entry)
        if isinstance(entry, AvatarError):
            raise entry.copy()
        return entry


def _host_and_port(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host  # an IPv6 literal keeps its brackets
    return f"{host}:{url.port or (443 if url.scheme == 'https' else 80)}"


__all__ = [
    "DEFAULT_BACKGROUND",
    "AvatarError",
    "AvatarErrorCode",
    "AvatarFetcher",
    "AvatarResult",
    "AvatarService",
    "Colour",
    "RenderedAvatar",
    "default_cache_dir",
    "identicon",
]
