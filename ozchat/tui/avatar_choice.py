"""What an `--avatar` or `/avatar` value means: a URL to share, a bundled name, or a file to upload."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from ..bundled_avatars import bundled_names
from ..images import AvatarError, AvatarErrorCode, load_image
from ..protocol import MAX_UPLOAD_BYTES, server_url

UPLOADED_NAME = re.compile(r"[0-9a-f]{32}\.png")  # what the hub names an accepted upload
IMAGE_KINDS = "PNG, JPEG, GIF, WebP"  # what the hub takes


class AvatarChoiceError(ValueError):
    """An `--avatar` or `/avatar` value names nothing that could be shared; the message is one line."""


class AvatarFileError(ValueError):
    """A local avatar file cannot be uploaded; the message is one line for the chat pane."""


def avatar_base_url(server: str) -> str:
    """Where the hub at `server` (host, host:port or a ws(s):// URL) serves avatars."""
    parts = urlsplit(server_url(server))
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}/avatars/"


def choose_avatar(value: str) -> str | Path:
    """The avatar value to share for `value`, or the local image file to upload first.

    A bundled name ("cat") or the name of an upload is shared as it is, for each viewer to
    resolve against its own address of the hub; an existing file, or anything written as a path
    (./me.png, ~/me.png, /home/me.png), is a file; a URL is shared as given. Anything else is
    refused with AvatarChoiceError, listing the bundled names. Blocks on a stat of the file system.
    """
    value = value.strip()
    if "://" in value:
        if urlsplit(value).scheme.lower() not in ("http", "https"):
            raise AvatarChoiceError(f"an avatar URL starts with http:// or https://, not {value.split('://', 1)[0]}://")
        return value
    if value in bundled_names() or UPLOADED_NAME.fullmatch(value):
        return value
    path = Path(value).expanduser()
    if value.startswith((".", "~")) or path.is_absolute() or path.is_file():
        return path
    raise AvatarChoiceError(
        f"no bundled avatar called {value}; bundled: {', '.join(sorted(bundled_names()))}; "
        "or give an image URL (https://...) or a file (./me.png)"
    )


def read_avatar_file(path: Path) -> bytes:
    """The image to upload: no larger than the hub takes, and an image of a kind it takes, checked
    here so a file that is not one never leaves the machine. Blocking, for ``asyncio.to_thread``."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_UPLOAD_BYTES + 1)
    except OSError as exc:
        raise AvatarFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_UPLOAD_BYTES:
        raise AvatarFileError(f"{path} is larger than the {MAX_UPLOAD_BYTES // 1024} KiB the hub takes for an avatar")
    try:
        load_image(data)  # the decoder the hub runs on uploads, with its limits
    except AvatarError as exc:
        if exc.code in (AvatarErrorCode.NOT_AN_IMAGE, AvatarErrorCode.UNSUPPORTED_FORMAT):
            raise AvatarFileError(f"{path.name} is not an image ({IMAGE_KINDS}); nothing was sent") from None
        raise AvatarFileError(f"{path.name}: {exc.message}; nothing was sent") from None
    return data
