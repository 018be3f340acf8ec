"""How fast the chat starts, measured by hand (not a test).

    python benchmarks/startup.py [--runs 7] [--people 1000]

1. Import time: `import ozchat.tui.app` against `import textual.app` (and a bare interpreter),
   each in a fresh process, the three run back to back `--runs` times; medians are printed.
2. Start-up to the first frame: the real `ozchat` command in a pseudo-terminal of 120x40,
   timed from the spawn to the first screen it draws (the "People" box), on an empty line and
   on a line where `--people` raw WebSocket clients are already present; with people, also to
   the frame that lists them all ("People N").

The hub is `ozchat serve` on a free 127.0.0.1 port; the crowd joins from a separate process.
Every wait is capped, and every process started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator

CAP_SECONDS = 120.0
PEOPLE = re.compile(rb"People (\d+)")
ESCAPES = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>])")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _process_seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def import_times(runs: int) -> None:
    codes = {"python alone": "pass", "textual.app": "import textual.app", "ozchat.tui.app": "import ozchat.tui.app"}
    for code in codes.values():
        _process_seconds(code)  # warm the file cache and the bytecode
    taken: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(runs):
        for name, code in codes.items():
            taken[name].append(_process_seconds(code))
    medians = {name: statistics.median(values) for name, values in taken.items()}
    print(f"import, median of {runs} paired runs in fresh processes:")
    for name, median in medians.items():
        print(f"  {name:<16} {median * 1000:6.0f} ms")
    print(f"  the app costs {(medians['ozchat.tui.app'] - medians['textual.app']) * 1000:.0f} ms over Textual alone")


@contextlib.contextmanager
def _hub() -> Iterator[int]:
    port = _free_port()
    hub = subprocess.Popen(
        [sys.executable, "-m", "ozchat", "serve", "--port", str(port), "--store", "memory", "--no-limits",
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or hub.poll() is not None:
                raise SystemExit("the hub did not start")
            time.sleep(0.05)
        yield port
    finally:
        hub.terminate()
        hub.wait(10)


@contextlib.contextmanager
def _crowd(port: int, people: int) -> Iterator[None]:
    """`people` raw clients on the line, from another process; they leave when it ends."""
    crowd = subprocess.Popen(
        [sys.executable, __file__, "--crowd-of", str(people), "--port", str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert crowd.stdout is not None
        if crowd.stdout.readline().strip() != "ready":
            raise SystemExit("the crowd could not join")
        yield
    finally:
        assert crowd.stdin is not None
        crowd.stdin.close()
        try:
            crowd.wait(30)
        except subprocess.TimeoutExpired:
            crowd.kill()
            crowd.wait()


async def _join_crowd(port: int, people: int) -> None:
    from websockets.asyncio.client import connect

    async def member(index: int) -> None:
        async with connect(f"ws://127.0.0.1:{port}/", max_size=None, ping_interval=None, open_timeout=60) as ws:
            hello = {"type": "hello", "line": "Startup", "properties": {"nickname": f"user{index:04d}"}}
            await ws.send(json.dumps(hello))
            if json.loads(await ws.recv())["type"] != "welcome":
                raise SystemExit("a crowd member was not welcomed")
            joined.release()
            async for _ in ws:  # drained, so the hub never waits on us
                pass

    joined = asyncio.Semaphore(0)
    members = [asyncio.create_task(member(index)) for index in range(people)]
    async with asyncio.timeout(CAP_SECONDS):
        for _ in range(people):
            await joined.acquire()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(TimeoutError):  # the parent is done when it closes our stdin
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), CAP_SECONDS * 5)
    for task in members:
        task.cancel()
    await asyncio.gather(*members, return_exceptions=True)


def _until_frames(port: int, listed: list[int], home: str) -> list[float]:
    """Seconds from spawning `ozchat` in a 120x40 pseudo-terminal to its first frame that says
    "People N" with N at least each of `listed`, in turn; the app is then quit with Ctrl+Q."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command, with settings and caches of its own
        os.environ.update(
            TERM="xterm-256color", COLUMNS="120", LINES="40",
            XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data", XDG_CACHE_HOME=f"{home}/cache",
        )
        os.execv(sys.executable, [sys.executable, "-m", "ozchat", "--host", f"127.0.0.1:{port}", "--line", "Startup",
                                  "--nick", "Bench"])
    started = time.perf_counter()
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    seen: list[float] = []
    screen = b""
    try:
        while len(seen) < len(listed):
            if time.perf_counter() - started > CAP_SECONDS:
                raise SystemExit(f"no 'People {listed[len(seen)]}' on the screen within {CAP_SECONDS:g} s")
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                screen += os.read(fd, 1 << 16)
            except OSError:
                raise SystemExit("ozchat ended before drawing") from None
            most = max((int(count) for count in PEOPLE.findall(ESCAPES.sub(b"", screen))), default=-1)
            while len(seen) < len(listed) and most >= listed[len(seen)]:
                seen.append(time.perf_counter() - started)
    finally:
        _quit(pid, fd)
    return seen


def _quit(pid: int, fd: int) -> None:
    """Ctrl+Q, so the app leaves the line at once (a killed one would linger there as ONLINE)."""
    with contextlib.suppress(OSError):
        os.write(fd, b"\x11")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if select.select([fd], [], [], 0.1)[0]:
                os.read(fd, 1 << 16)  # drained, so its last frames cannot block it
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(fd)


def first_frames(runs: int, people: int) -> None:
    with tempfile.TemporaryDirectory() as home, _hub() as port:
        _until_frames(port, [0], home)  # warm-up
        empty = [_until_frames(port, [0], home)[0] for _ in range(runs)]
        print(f"start-up to the first frame, median of {runs}:")
        print(f"  empty line:        {statistics.median(empty) * 1000:6.0f} ms")
        with _crowd(port, people):
            full = [_until_frames(port, [0, people + 1], home) for _ in range(runs)]
        print(f"  {people:,} people on it: {statistics.median(f[0] for f in full) * 1000:6.0f} ms, "
              f"all {people:,} listed at {statistics.median(f[1] for f in full) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--crowd-of", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.crowd_of is not None:
        asyncio.run(_join_crowd(args.port, min(args.crowd_of, 2000)))
        return
    runs = max(1, min(args.runs, 50))
    import_times(runs)
    first_frames(runs, min(args.people, 2000))


if __name__ == "__main__":
    main()
