"""Join storm and fan-out on one line, measured by hand (not a test).

    python benchmarks/presence.py [--clients 1000] [--messages 20]

Starts a hub as its own process on a free 127.0.0.1 port, then connects N OzWebClients from
this process, all at once, and times until every one of them sees the other N-1; then one
client sends M line messages and the time until every client has all of them is taken.
Everything stops by itself (a 120 s cap per phase).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time

from ozchat import OzWebClient

CAP_SECONDS = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _until(predicate, what: str) -> None:
    deadline = time.monotonic() + CAP_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)


async def run(clients: int, messages: int) -> None:
    port = _free_port()
    hub = subprocess.Popen(
        [sys.executable, "-m", "ozchat", "serve", "--port", str(port), "--store", "memory", "--no-limits",
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(1.0)
        crowd = [OzWebClient(ping_interval=None, reconnect=False, connect_timeout=60) for _ in range(clients)]
        received = [0] * clients
        for index, client in enumerate(crowd):
            client.on_message_received(lambda m, i=index: received.__setitem__(i, received[i] + 1))

        started = time.perf_counter()
        await asyncio.gather(*(c.connect(f"127.0.0.1:{port}", "Storm", {"nickname": f"user{i:04d}"})
                               for i, c in enumerate(crowd)))
        connected = time.perf_counter() - started
        await _until(lambda: all(len(c.roster) == clients - 1 for c in crowd), "the full roster")
        storm = time.perf_counter() - started
        print(f"join storm, {clients} clients: all connected in {connected:.2f} s, "
              f"every roster complete in {storm:.2f} s")

        sender = crowd[0]
        started = time.perf_counter()
        latencies = []
        for i in range(messages):
            sent_at = time.perf_counter()
            await sender.send_message(f"message {i}")
            latencies.append(time.perf_counter() - sent_at)
        await _until(lambda: all(count >= messages for count in received), "every message everywhere")
        fanout = time.perf_counter() - started
        deliveries = clients * messages
        print(f"fan-out, {messages} messages to {clients} clients: {fanout:.2f} s for {deliveries} deliveries "
              f"({deliveries / fanout:,.0f} per s); send-to-ack median {statistics.median(latencies) * 1000:.1f} ms")

        started = time.perf_counter()
        await asyncio.gather(*(c.disconnect() for c in crowd))
        print(f"everyone leaving: {time.perf_counter() - started:.2f} s")
    finally:
        hub.terminate()
        hub.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(min(args.clients, 2000), min(args.messages, 1000)))


if __name__ == "__main__":
    main()
