"""Start a detached local hub when nothing listens on a loopback address.

The hub is its own process, in its own session, so the line outlives the client that
started it; it stops by itself once no client has been connected for `idle_exit` seconds.
Two clients racing to start one end up on the same hub: only one process can bind the port,
the other exits, and both wait for whichever answers /healthz. A started hub says on a pipe
when it listens, so a client knows whether the hub that answers is the one it started.

It runs isolated from the current folder (`python -P`, started in the log folder): from the
folder that holds a clone named `ozchat`, that folder must not stand in for the installed package.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from ..addresses import bare_host, url_host
from ..exceptions import ConnectionFailed

# What a hub started with --ready-fd writes there once it listens.
READY = b"ready\n"
# A token meant for hubs run by hand must not lock the clients out of a hub started for them.
_HUB_ONLY_ENVIRONMENT = ("OZCHAT_HUB_TOKEN",)


@dataclass(frozen=True)
class StartedHub:
    """A hub this client started: where it listens, its process id and its log file."""

    host: str
    port: int
    pid: int
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False, compare=False)

    def running(self) -> bool:
        return self.process.poll() is None


def is_loopback(host: str) -> bool:
    if bare_host(host).lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(bare_host(host)).is_loopback
    except ValueError:
        return False


def bind_address(host: str) -> str:
    """The address a local hub for `host` listens on: the literal, or 127.0.0.1 for a name."""
    try:
        return str(ipaddress.ip_address(bare_host(host)))
    except ValueError:
        return "127.0.0.1"


async def hub_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when an ozchat hub answers GET /healthz there."""
    import httpx  # only a client starting a local hub asks: `ozchat serve` imports this module too

    address = bind_address(host)
    # Loopback only, so no proxy from the environment may stand in between.
    async with httpx.AsyncClient(trust_env=False, timeout=timeout) as http:
        try:
            response = await http.get(f"http://{url_host(address)}:{port}/healthz")
        except httpx.HTTPError:
            return False
    return response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json")


def log_path_for(port: int) -> Path:
    return Path(platformdirs.user_log_dir("ozchat")) / f"hub-{port}.log"


async def _said_ready(fd: int) -> bool:
    """True once the hub writes READY on the pipe; False when it exits without (end of file)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bool] = loop.create_future()

    def readable() -> None:
        data = os.read(fd, len(READY))
        if not answer.done():
            answer.set_result(data == READY)

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)
    try:
        return await answer
    finally:
        loop.remove_reader(fd)


async def ensure_local_hub(host: str, port: int, *, idle_exit: float = 60.0, wait: float = 10.0) -> StartedHub | None:
    """Make sure a hub answers on the loopback `host`:`port`; start one if none does.

    Returns the hub it started, or None when one was already there (or another client's
    start won the race). Raises ConnectionFailed when no hub answers within `wait` seconds.
    """
    if await hub_answers(host, port):
        return None
    address = bind_address(host)
    log_path = log_path_for(port)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    environment = {name: value for name, value in os.environ.items() if name not in _HUB_ONLY_ENVIRONMENT}
    ready_read, ready_write = os.pipe()
    try:
        with log_path.open("ab") as log_file:
            # A detached hub outlives this event loop, so not asyncio's child process; Popen returns at once.
            process = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-P", "-m", "ozchat", "serve", "--host", address, "--port", str(port),
                 "--idle-exit", str(idle_exit), "--ready-fd", str(ready_write)],
                cwd=log_path.parent,
                env=environment,
                pass_fds=(ready_write,),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    finally:
        os.close(ready_write)
    deadline = asyncio.get_running_loop().time() + wait
    try:
        async with asyncio.timeout_at(deadline):
            ours = await _said_ready(ready_read)
    except TimeoutError:
        ours = False
    finally:
        os.close(ready_read)
    if ours:
        return StartedHub(address, port, process.pid, log_path, process)
    # Ours exited without listening: another client's hub won the port, or ours failed (see the log).
    while asyncio.get_running_loop().time() < deadline:
        if await hub_answers(host, port):
            return None
        await asyncio.sleep(0.1)
    if await _port_taken(address, port):
        raise ConnectionFailed(
            f"something else listens on {address}:{port} and answers no ozchat /healthz over plain HTTP "
            "(a hub serving TLS? then connect with wss://); a local hub cannot start there"
        )
    raise ConnectionFailed(f"started a local hub on {address}:{port} but it did not answer; see {log_path}")


async def _port_taken(address: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


class LocalHub:
    """The local hub one client relies on: started when none answers, at first and whenever it died.

    Pass `ensure` as the client's `before_reconnect`, so a crashed hub is started again by
    whichever of its clients gets there first.
    """

    def __init__(self, host: str, port: int, *, idle_exit: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.idle_exit = idle_exit
        self._started: StartedHub | None = None

    @property
    def started_here(self) -> StartedHub | None:
        """The hub this client started, while it still runs."""
        if self._started is not None and not self._started.running():
            self._started = None
        return self._started

    async def ensure(self) -> StartedHub | None:
        """Start a hub unless one answers; return it when this call started it."""
        started = await ensure_local_hub(self.host, self.port, idle_exit=self.idle_exit)
        if started is not None:
            self._started = started
        return started
