"""The app's memory of avatars as terminal cells; widgets draw avatars only through its `AvatarBoard`.

The board answers at once with the identicon of the phone number and, when the `avatar`
property names a picture, starts one worker per (URL, size, background) that loads it through
the `AvatarService` and posts `AvatarLoaded`; the app hands the result back with `loaded` and
the widgets draw again. A failed load keeps the identicon and remembers why, for the card,
and is tried again when drawn once `retry_after` seconds have passed. It is the one place the
UI keeps avatars: pictures per (URL, size, background), identicons per person until `forget`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.color import Color
from textual.message import Message

from ..avatars import AvatarError, AvatarErrorCode, AvatarResult, AvatarService, RenderedAvatar, identicon
from ..protocol import ClientInfo
from .messages import RGB, AvatarKey, AvatarLoaded

MAX_RESULTS = 2048  # loaded avatars kept; one evicted is loaded again (from the disk cache) if still shown
RETRY_FAILED = 300.0  # seconds before a failed load is tried again, when the avatar is next drawn

_PLAIN_WORDS = {
    AvatarErrorCode.BAD_URL: "it is not an http or https address",
    AvatarErrorCode.REFUSED_ADDRESS: (
        "it points at a private or local address, and avatars are fetched only from the hub and public addresses"
    ),
    AvatarErrorCode.HTTP_STATUS: "its server would not give it",
    AvatarErrorCode.TOO_LARGE: "the file is too large",
    AvatarErrorCode.TIMEOUT: "its server was too slow",
    AvatarErrorCode.REDIRECT_LOOP: "its address redirects in a loop",
    AvatarErrorCode.TOO_MANY_REDIRECTS: "its address redirects too many times",
    AvatarErrorCode.CONNECTION_FAILED: "its server could not be reached",
    AvatarErrorCode.NOT_AN_IMAGE: "what its address gives is not an image",
    AvatarErrorCode.UNSUPPORTED_FORMAT: "the image is in a format ozchat does not read",
    AvatarErrorCode.TOO_MANY_PIXELS: "the image has too many pixels",
    AvatarErrorCode.CORRUPT: "the image is damaged",
    AvatarErrorCode.UPLOAD_TOO_LARGE: "the image is too large",
}


def plain_reason(error: AvatarError) -> str:
    """Why an avatar is not shown, as a person would say it: "its server would not give it"."""
    return _PLAIN_WORDS.get(error.code, "it could not be loaded")


def rgb(colour: Color) -> RGB:
    return colour.r, colour.g, colour.b


@dataclass(frozen=True, slots=True)
class AvatarView:
    """What to draw for someone now; `error` says why it is the identicon, `loading` that it may change."""

    avatar: RenderedAvatar
    error: AvatarError | None = None
    loading: bool = False


class AvatarBoard:
    """Someone's avatar at any size: the identicon at once, the picture when its load has come back.

    Without a service (tests, the snapshot screen) only identicons are drawn. `run_worker` runs
    a coroutine in a Textual worker, `post` delivers the Message it ends with. It is no widget:
    the people list, the profile card and the app share one.
    """

    def __init__(
        self,
        service: AvatarService | None,
        run_worker: Callable[..., Any],
        post: Callable[[Message], object],
        *,
        retry_after: float = RETRY_FAILED,
    ) -> None:
        self.service = service
        self._run_worker = run_worker
        self._post = post
        self._retry_after = retry_after
        self._results: OrderedDict[AvatarKey, AvatarResult] = OrderedDict()
        self._failed_at: dict[AvatarKey, float] = {}
        self._loading: set[AvatarKey] = set()
        # Kept while the person is listed: a presence change must not build every identicon again.
        self._identicons: dict[str, dict[int, RenderedAvatar]] = {}

    def identicon(self, phone_number: str, size: int) -> RenderedAvatar:
        """The identicon of `phone_number`, built once per size until `forget`."""
        sizes = self._identicons.setdefault(phone_number, {})
        drawn = sizes.get(size)
        if drawn is None:
            drawn = sizes[size] = identicon(phone_number, size)
        return drawn

    def forget(self, phone_number: str) -> None:
        """Drop the identicons of someone no longer listed."""
        self._identicons.pop(phone_number, None)

    @property
    def identicons_kept(self) -> frozenset[str]:
        """The phone numbers whose identicons are kept."""
        return frozenset(self._identicons)

    def view(self, info: ClientInfo, size: int, background: RGB) -> AvatarView:
        """The avatar to draw for `info`, starting its load if none ran yet."""

        def make_stand_in() -> RenderedAvatar:
            return self.identicon(info.phone_number, size)

        value = info.get("avatar")
        if value is None or value == "" or self.service is None:
            return AvatarView(make_stand_in())
        if not isinstance(value, str):
            return AvatarView(make_stand_in(), AvatarError(AvatarErrorCode.BAD_URL, "the avatar property is not text"))
        try:
            key = AvatarKey(self.service.resolve(value.strip()), size, background)
        except AvatarError as error:
            return AvatarView(make_stand_in(), error)
        result = self._results.get(key)
        if result is None:
            self._start(key)
            return AvatarView(make_stand_in(), loading=True)
        self._results.move_to_end(key)
        if result.ok:
            return AvatarView(result.avatar)
        if time.monotonic() - self._failed_at[key] >= self._retry_after:
            self._start(key)
        return AvatarView(make_stand_in(), result.error, loading=key in self._loading)

    def picture(self, info: ClientInfo, size: int, background: RGB) -> RenderedAvatar:
        return self.view(info, size, background).avatar

    def failure(self, url: str) -> AvatarError | None:
        """Why the latest finished load of `url` failed, at whatever size; None if it did not or none finished."""
        for key in reversed(self._results):
            if key.url == url:
                return self._results[key].error
        return None

    @property
    def loading(self) -> int:
        """How many loads are running."""
        return len(self._loading)

    def loaded(self, message: AvatarLoaded) -> None:
        """Keep a load's result (called by the app on AvatarLoaded)."""
        self._loading.discard(message.key)
        self._results[message.key] = message.result
        self._results.move_to_end(message.key)
        if message.result.ok:
            self._failed_at.pop(message.key, None)
        else:
            self._failed_at[message.key] = time.monotonic()
        while len(self._results) > MAX_RESULTS:
            evicted, _ = self._results.popitem(last=False)
            self._failed_at.pop(evicted, None)

    def _start(self, key: AvatarKey) -> None:
        if key in self._loading:
            return
        self._loading.add(key)
        self._run_worker(self._load(key), group="avatars", exit_on_error=False)

    async def _load(self, key: AvatarKey) -> None:
        assert self.service is not None
        try:
            result = await self.service.load(key.url, key.size, key.background)
        except Exception as exc:  # `load` reports failures in its result; a bug must not leave "loading" for ever
            error = AvatarError(AvatarErrorCode.CORRUPT, f"could not be loaded: {exc}")
            result = AvatarResult(identicon(key.url, key.size), error)
        self._post(AvatarLoaded(key, result))
