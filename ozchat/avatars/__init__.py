"""Avatars for the UI: fetched with httpx, decoded with Pillow in a thread, drawn with rich-pixels.

    async with AvatarService(base_url="http://hub:7779/avatars/") as avatars:
        row.avatar = identicon(info.phone_number, 8)                # at once
        result = await avatars.load(info["avatar"], 8, "#1e1e1e", seed=info.phone_number)
        row.avatar = result.avatar                                  # the picture, or the identicon
        if result.error: row.tooltip = result.error.message

`load` never raises for a bad avatar: the failure comes back as `result.error`, with a stable
`code`, and `result.avatar` is then the identicon of `seed`.

The names below are imported on first use, so `import ozchat.avatars` (and the chat app that
does it) loads neither httpx nor Pillow nor rich-pixels until an avatar is drawn or fetched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..images import AvatarError, AvatarErrorCode
    from .disk_cache import default_cache_dir
    from .fetch import AvatarFetcher
    from .image import Colour
    from .render import RenderedAvatar
    from .service import DEFAULT_BACKGROUND, AvatarResult, AvatarService, identicon

_WHERE = {
    "AvatarError": "ozchat.images",
    "AvatarErrorCode": "ozchat.images",
    "default_cache_dir": "ozchat.avatars.disk_cache",
    "AvatarFetcher": "ozchat.avatars.fetch",
    "Colour": "ozchat.avatars.image",
    "RenderedAvatar": "ozchat.avatars.render",
    "DEFAULT_BACKGROUND": "ozchat.avatars.service",
    "AvatarResult": "ozchat.avatars.service",
    "AvatarService": "ozchat.avatars.service",
    "identicon": "ozchat.avatars.service",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


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
