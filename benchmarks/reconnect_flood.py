"""A client that reconnects to get a fresh rate budget each time, measured by hand (not a test).

    python benchmarks/reconnect_flood.py [--seconds 10] [--hub-option ...]

Starts `ozchat serve` (memory store, default limits unless hub options are given) as its own
process on a free 127.0.0.1 port, then for `--seconds` loops: connect, hello, send 30 messages
as fast as possible, close. Prints the messages the hub accepted per second, the connections
and hellos it turned away, and how many ONLINE/OFFLINE events a bystander on the line heard.
A watcher on the line counts the presence events. Everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ozchat import OzWebClient


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _wait_for_hub(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit("the hub did not start")


async def _one_cycle(url: str, counts: dict[str, int]) -> None:
    try:
        async with ws_connect(url, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "line": "Flood", "properties": {"nickname": "Flood"}}))
            answer = json.loads(await ws.recv())
            if answer["type"] != "welcome":
                counts["hellos refused"] += 1
                return
            for index in range(30):
                await ws.send(json.dumps({"type": "send", "text": f"spam {index}", "id": f"s{index}"}))
            answered = 0
            while answered < 30:
                frame = json.loads(await ws.recv())
                if frame["type"] in ("ack", "error"):
                    answered += 1
                    counts["accepted" if frame["type"] == "ack" else "rate limited"] += 1
    except InvalidStatus:
        counts["connections refused"] += 1
    except ConnectionClosed:
        counts["hellos refused"] += 1


async def run(seconds: float, hub_options: list[str]) -> None:
    port = _free_port()
    hub = subprocess.Popen(
        [sys.executable, "-m", "ozchat", "serve", "--port", str(port), "--store", "memory", "--log-level", "warning",
         *hub_options],
        stdout=subprocess.DEVNULL,
    )
    try:
        await _wait_for_hub(port)
        url = f"ws://127.0.0.1:{port}/"
        presence = 0
        watcher = OzWebClient(ping_interval=None, reconnect=False)

        def heard(_info: object) -> None:
            nonlocal presence
            presence += 1

        watcher.on_client_state_changed(heard)
        await watcher.connect(url, "Flood", {"nickname": "Watcher"})
        counts = dict.fromkeys(("accepted", "rate limited", "connections refused", "hellos refused"), 0)
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            await _one_cycle(url, counts)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.5)
        print(f"{' '.join(hub_options) or 'default limits'}: {counts['accepted'] / elapsed:,.0f} messages accepted/s "
              f"over {elapsed:.1f} s; {counts}; the watcher heard {presence} presence events")
        await watcher.disconnect()
    finally:
        hub.terminate()
        hub.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("hub_options", nargs=argparse.REMAINDER, help="options for ozchat serve, after --")
    args = parser.parse_args()
    asyncio.run(run(args.seconds, [option for option in args.hub_options if option != "--"]))


if __name__ == "__main__":
    main()
