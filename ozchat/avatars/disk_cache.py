"""Fetched avatar bodies kept on disk between runs, with the validators to revalidate them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..files import prune_oldest, write_atomically


def default_cache_dir() -> Path:
    """Where fetched avatars are kept between runs: the user cache directory."""
    return Path(platformdirs.user_cache_dir("ozchat")) / "avatars"


@dataclass(frozen=True, slots=True)
class CachedBody:
    """A body as fetched from `url` (after redirects, from `final_url`) with its HTTP validators."""

    url: str
    final_url: str
    etag: str | None
    last_modified: str | None
    body: bytes

    def conditional_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class DiskCache:
    """One body and one JSON file of validators per URL; best effort, bounded in total size.

    Blocking file I/O: call `load` and `store` through ``asyncio.to_thread``.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self._max_bytes = max_bytes

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return self.directory / f"{key}.json", self.directory / f"{key}.body"

    def load(self, url: str) -> CachedBody | None:
        meta_path, body_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url or meta.get("size") != len(body):
            return None
        return CachedBody(url, meta["final_url"], meta.get("etag"), meta.get("last_modified"), body)

    def store(self, entry: CachedBody) -> None:
        meta_path, body_path = self._paths(entry.url)
        meta = {
            "url": entry.url,
            "final_url": entry.final_url,
            "etag": entry.etag,
            "last_modified": entry.last_modified,
            "size": len(entry.body),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomically(body_path, entry.body)
            write_atomically(meta_path, json.dumps(meta).encode())
            for body in prune_oldest(self.directory, "*.body", self._max_bytes):
                body.with_suffix(".json").unlink(missing_ok=True)
        except OSError:
            pass  # a read-only or full cache directory costs a download, never an avatar
