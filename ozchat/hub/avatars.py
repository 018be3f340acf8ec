"""Avatar files the hub serves: the bundled pixel art and validated uploads.

No sockets here. The functions block (Pillow, file I/O): the server calls them through
``asyncio.to_thread``. Uploads pass the same decoder limits as the clients' avatars and are
stored re-encoded, so the hub never hands out bytes a user wrote.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

from ..files import prune_oldest, write_atomically
from ..images import AvatarError, AvatarErrorCode, reencode_square_png
from ..protocol import MAX_UPLOAD_BYTES

MAX_UPLOAD_SIDE = 64
DEFAULT_STORE_BYTES = 64 * 1024 * 1024

_UPLOAD_NAME = re.compile(r"[0-9a-f]{32}\.png")


class UploadRejected(AvatarError):
    """An upload the hub will not store; `code` is stable (``upload_too_large``, ``not_an_image``, ...)."""


def accept_upload(data: bytes) -> tuple[str, bytes]:
    """Validate an uploaded image and return (name, png): a square PNG of at most 64x64 pixels.

    The first frame is kept with its transparency, cropped to its centre square and scaled
    down; the PNG is encoded from bare pixels, so no metadata survives. The name is the sha256
    of that PNG (32 hex digits) + ".png": the same picture always gets the same name.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRejected(
            AvatarErrorCode.UPLOAD_TOO_LARGE, f"{len(data)} bytes; an upload has at most {MAX_UPLOAD_BYTES}"
        )
    try:
        png = reencode_square_png(data, MAX_UPLOAD_SIDE)
    except AvatarError as exc:
        raise UploadRejected(exc.code, exc.message) from None
    return f"{hashlib.sha256(png).hexdigest()[:32]}.png", png

class UploadStore:
    """Accepted uploads kept in `directory` by name, `max_bytes` in all; the oldest go first."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_STORE_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def add(self, data: bytes) -> str:
        """Validate and store an upload; return its name. Raises UploadRejected."""
        name, png = accept_upload(data)
        path = self.directory / name
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.touch()  # uploaded again: now the newest, the last to be evicted
            else:
                write_atomically(path, png)
            prune_oldest(self.directory, "*.png", self.max_bytes, keep=path)
        return name

    def get(self, name: str) -> bytes | None:
        """The stored PNG called `name`, or None (unknown or malformed names included)."""
        if not _UPLOAD_NAME.fullmatch(name):
            return None
        try:
            return (self.directory / name).read_bytes()
        except OSError:
            return None

    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.directory.glob("*.png"))
