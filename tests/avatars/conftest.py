"""Fixtures of the avatar tests: a local HTTP server, a fetcher that trusts it, a service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ozchat.avatars import AvatarFetcher, AvatarService

from .helpers import AvatarServer


@pytest.fixture
async def server() -> AsyncIterator[AvatarServer]:
    running = AvatarServer()
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def fetcher(server: AvatarServer, tmp_path: Path) -> AsyncIterator[AvatarFetcher]:
    async with AvatarFetcher(trusted_hosts=[server.host], cache_dir=tmp_path / "cache", deadline=3.0) as running:
        yield running


@pytest.fixture
async def service(fetcher: AvatarFetcher) -> AsyncIterator[AvatarService]:
    async with AvatarService(fetcher) as running:
        yield running
