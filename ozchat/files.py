"""Two file rules used wherever ozchat keeps files: write one atomically, keep a directory bounded.

Both block on the file system: call them through ``asyncio.to_thread`` from an event loop.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write `data` to `path` so that a reader sees the old file or the new one, never a part.

    `mode` (permission bits) is set on the new file before it takes the place of the old one;
    without it the new file has the process's default mode.

    The bytes go to a temporary file beside `path` (named after this process and thread, so
    concurrent writers never share one), which then replaces `path` in one rename. No fsync:
    this is for caches and stores that may lose their newest file in a power cut, not be torn.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_bytes(data)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def prune_oldest(directory: Path, pattern: str, max_bytes: int, *, keep: Path | None = None) -> list[Path]:
    """Delete the least recently modified files matching `pattern` until those left hold `max_bytes` at most.

    `keep` is never deleted (the file just written, say). Files that vanish meanwhile (another
    process pruning too) are skipped. Returns the paths deleted, oldest first.
    """
    stored: list[tuple[float, int, Path]] = []
    for path in directory.glob(pattern):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        stored.append((stat.st_mtime, stat.st_size, path))
    stored.sort(key=lambda item: item[0])
    total = sum(size for _, size, _ in stored)
    deleted = []
    for _, size, path in stored:
        if total <= max_bytes:
            break
        if path == keep:
            continue
        path.unlink(missing_ok=True)
        total -= size
        deleted.append(path)
    return deleted
