"""A local hub killed under two clients, run by hand: python benchmarks/hub_restart.py

Two `ozchat events` clients share a hub one of them started; the hub is killed with SIGKILL.
Measured: the time until both print ACCESS_GRANTED again, after one of them (whichever finds
nothing listening first) has started a new hub. Three runs, each on a fresh port and in
throw-away user directories.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

RUNS = 3


class Client:
    """An `ozchat events` process whose standard error lines are read as they come."""

    def __init__(self, port: int, nick: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ozchat", "events", "--host", f"127.0.0.1:{port}", "--nick", nick,
             "--autostart-idle", "2"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )

    def wait_for(self, pattern: str) -> re.Match[str]:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if match := re.search(pattern, line):
                return match
        raise RuntimeError(f"{pattern!r} never came")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            os.environ[name] = os.path.join(home, name.lower())
        for run in range(1, RUNS + 1):
            port = free_port()
            ann = Client(port, "Ann")
            pid = int(ann.wait_for(r"started a local hub on .* \(pid (\d+), ").group(1))
            ann.wait_for("ACCESS_GRANTED")
            ben = Client(port, "Ben")
            ben.wait_for("ACCESS_GRANTED")
            started = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            for client in (ann, ben):
                client.wait_for("ACCESS_GRANTED")
            print(f"run {run}: both clients back {time.perf_counter() - started:.2f} s after the hub was killed")
            ann.stop()
            ben.stop()


if __name__ == "__main__":
    main()
