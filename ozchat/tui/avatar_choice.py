"""What an `--avatar` or `/avatar` value means: a URL to share, a bundled name, or a file to upload."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..avatars.bundled import bundled_names
from ..protocol import MAX_UPLOAD_BYTES, server_url


class AvatarFileError(ValueError):
    """A local avatar file cannot be uploaded; the message is one line for the chat pane."""


def avatar_base_url(server: str) -> str:
    """Where the hub at `server` (host, host:port or a ws(s):// URL) serves avatars."""
    parts = urlsplit(server_url(server))
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}/avatars/"


def choose_avatar(value: str) -> str | Path:
    """The avatar value to share for `value`, or the local image file to upload first.

    A bundled name ("cat") is shared as it is, for each viewer to resolve against its own
    address of the hub; an existing file, or anything written as a path (./me.png, ~/me.png,
    /home/me.png), is a file; anything else is shared as given. Blocks on a stat of the file system.
    """
    value = value.strip()
    if "://" in value or value in bundled_names():
        return value
    path = Path(value).expanduser()
    if value.startswith((".", "~")) or path.is_absolute() or path.is_file():
        return path
    return value


def read_avatar_file(path: Path) -> bytes:
    """The image to upload, no larger than the hub takes; blocking, for ``asyncio.to_thread``."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_UPLOAD_BYTES + 1)
    except OSError as exc:
        raise AvatarFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_UPLOAD_BYTES:
        raise AvatarFileError(f"{path} is larger than the {MAX_UPLOAD_BYTES // 1024} KiB the hub takes for an avatar")
    return data
