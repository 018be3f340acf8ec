"""Start a detached local hub when nothing listens on a loopback address.

The hub is its own process, in its own session, so the line outlives the client that
started it; it stops by itself once no client has been connected for `idle_exit` seconds.
Two clients racing to start one end up on the same hub: only one process can bind the port,
the other exits, and both wait for whichever answers /healthz.

It runs isolated from the current folder (`python -P`, started in the log folder): from the
folder that holds a clone named `ozchat`, that folder must not stand in for the installed package.
"""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import platformdirs

from ..exceptions import ConnectionFailed


@dataclass(frozen=True)
class StartedHub:
    """A hub this client started: where it listens, its process id and its log file."""

    host: str
    port: int
    pid: int
    log_path: Path


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_address(host: str) -> str:
    """The address a local hub for `host` listens on: the literal, or 127.0.0.1 for a name."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return "127.0.0.1"


async def hub_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when an ozchat hub answers GET /healthz there."""
    address = bind_address(host)
    url_host = f"[{address}]" if ":" in address else address
    # Loopback only, so no proxy from the environment may stand in between.
    async with httpx.AsyncClient(trust_env=False, timeout=timeout) as http:
        try:
            response = await http.get(f"http://{url_host}:{port}/healthz")
        except httpx.HTTPError:
            return False
    return response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json")


def log_path_for(port: int) -> Path:
    return Path(platformdirs.user_log_dir("ozchat")) / f"hub-{port}.log"


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
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "ozchat", "serve", "--host", address, "--port", str(port),
             "--idle-exit", str(idle_exit)],
            cwd=log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = asyncio.get_running_loop().time() + wait
    while asyncio.get_running_loop().time() < deadline:
        if await hub_answers(host, port):
            if process.poll() is None:
                return StartedHub(address, port, process.pid, log_path)
            return None
        await asyncio.sleep(0.1)
    raise ConnectionFailed(f"started a local hub on {address}:{port} but it did not answer; see {log_path}")
