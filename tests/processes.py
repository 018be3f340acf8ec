"""Running ozchat commands as child processes, as a user would, with output read under a deadline."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

OZCHAT = [sys.executable, "-m", "ozchat"]
# The installed console script, as a user types it: unlike `python -m`, it does not import from the cwd.
OZCHAT_SCRIPT = [str(Path(sys.executable).with_name("ozchat"))]


class Process:
    """A child process whose output lines are read with a deadline."""

    def __init__(
        self, *args: str, stdin: bool = False, command: list[str] = OZCHAT, cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            [*command, *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._buffer = b""
        os.set_blocking(self.proc.stdout.fileno(), False)

    def wait_for(self, pattern: str, timeout: float = 10.0, nth: int = 1) -> re.Match[str]:
        """The `nth` output line matching `pattern`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matches = [match for line in self.lines if (match := re.search(pattern, line))]
            if len(matches) >= nth:
                return matches[nth - 1]
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                chunk = b""
            if chunk:
                self._buffer += chunk
                *done, self._buffer = self._buffer.split(b"\n")
                self.lines.extend(line.decode("utf-8", "replace") for line in done)
            else:
                time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not seen; output so far: {self.lines} {self._buffer!r}")

    def send(self, text: str) -> None:
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def processes(tmp_path, monkeypatch):
    """Start ozchat commands; their config, data, cache and log directories live in tmp_path."""
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    started: list[Process] = []

    def start(
        *args: str, stdin: bool = False, command: list[str] = OZCHAT, cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Process:
        process = Process(*args, stdin=stdin, command=command, cwd=cwd, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
