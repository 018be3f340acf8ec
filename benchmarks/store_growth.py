"""How far one client can grow the hub's history file, measured by hand (not a test).

    python benchmarks/store_growth.py [--lines 150] [--seconds 60] [-- HUB OPTIONS]

Starts `ozchat serve` with a history file in a temporary folder (default limits unless hub
options are given) as its own process on a free 127.0.0.1 port. One client then goes through
throw-away lines, sending 30 messages of 4000 emoji (16 KB each) on each, until it has done
`--lines` lines or `--seconds` have passed. Prints what the hub accepted and the history
file's size on disk (with its write-ahead log) after everyone has left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _fill_line(url: str, line: str, counts: dict[str, int]) -> None:
    try:
        async with ws_connect(url, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "line": line, "properties": {"nickname": "Filler"}}))
            if json.loads(await ws.recv())["type"] != "welcome":
                counts["hellos refused"] += 1
                return
            for index in range(30):
                await ws.send(json.dumps({"type": "send", "text": "\U0001f600" * 4000, "id": f"m{index}"}))
            answered = 0
            while answered < 30:
                frame = json.loads(await ws.recv())
                if frame["type"] in ("ack", "error"):
                    answered += 1
                    counts["accepted" if frame["type"] == "ack" else "refused"] += 1
    except InvalidStatus:
        counts["connections refused"] += 1
    except ConnectionClosed:
        counts["hellos refused"] += 1


async def run(lines: int, seconds: float, hub_options: list[str]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ozchat-store-growth-"))
    store = folder / "history.sqlite3"
    port = _free_port()
    hub = subprocess.Popen(
        [sys.executable, "-m", "ozchat", "serve", "--port", str(port), "--store", str(store),
         "--uploads", str(folder / "avatars"), "--log-level", "warning", *hub_options],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if store.exists():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        counts = dict.fromkeys(("accepted", "refused", "connections refused", "hellos refused"), 0)
        started = time.perf_counter()
        for index in range(lines):
            if time.perf_counter() - started > seconds:
                break
            await _fill_line(f"ws://127.0.0.1:{port}/", f"Throwaway{index}", counts)
        elapsed = time.perf_counter() - started
        size = sum(file.stat().st_size for file in folder.iterdir() if file.name.startswith(store.name))
        print(f"{' '.join(hub_options) or 'default limits'}: {elapsed:.1f} s, {counts}; "
              f"history on disk {size / 2**20:.1f} MiB")
    finally:
        hub.terminate()
        hub.wait(10)
        for file in folder.glob("history.sqlite3*"):
            file.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("hub_options", nargs=argparse.REMAINDER, help="options for ozchat serve, after --")
    args = parser.parse_args()
    asyncio.run(run(args.lines, args.seconds, [option for option in args.hub_options if option != "--"]))


if __name__ == "__main__":
    main()
