"""The `ozchat serve` and `ozchat events` commands as separate processes, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

OZCHAT = [sys.executable, "-m", "ozchat"]


class Process:
    """A child process whose output lines are read with a deadline."""

    def __init__(self, *args: str, stdin: bool = False) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*OZCHAT, *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.lines: list[str] = []
        self._buffer = b""
        os.set_blocking(self.proc.stdout.fileno(), False)

    def wait_for(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if match := re.search(pattern, line):
                    return match
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


@pytest.fixture
def processes():
    started: list[Process] = []

    def start(*args: str, stdin: bool = False) -> Process:
        process = Process(*args, stdin=stdin)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def hub_address(processes) -> str:
    hub = processes("serve", "--host", "127.0.0.1", "--port", "0")
    port = hub.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)/").group(1)
    return f"127.0.0.1:{port}"


def test_two_event_clients_see_each_other_and_chat(processes, hub_address):
    mary = processes("events", "--host", hub_address, "--nick", "Mary")
    mary.wait_for(r"ACCESS_GRANTED")
    john = processes("events", "--host", hub_address, "--nick", "John", stdin=True)
    john.wait_for(r"ACCESS_GRANTED")
    john.wait_for(r"^Mary is ONLINE$")
    mary.wait_for(r"^John is ONLINE$")
    john.send("hi Mary")
    mary.wait_for(r"^<John> hi Mary$")
    assert john.interrupt() == 0
    mary.wait_for(r"^John is OFFLINE$")


def test_events_json_lines(processes, hub_address):
    watcher = processes("events", "--host", hub_address, "--nick", "Watcher", "--json")
    watcher.wait_for(r'"state": "ACCESS_GRANTED"')
    john = processes("events", "--host", hub_address, "--nick", "John", "--prop", "mood=happy")
    john.wait_for(r"ACCESS_GRANTED")
    line = watcher.wait_for(r'^\{"event": "client".*').group(0)
    event = json.loads(line)
    assert event["status"] == "ONLINE"
    assert event["properties"] == {"mood": "happy", "nickname": "John"}
    assert len(event["phoneNumber"]) == 5


def test_events_output_is_terminal_safe(processes, hub_address):
    watcher = processes("events", "--host", hub_address, "--nick", "Watcher")
    watcher.wait_for(r"ACCESS_GRANTED")
    evil = processes("events", "--host", hub_address, "--nick", "Evil", stdin=True)
    evil.wait_for(r"ACCESS_GRANTED")
    evil.send("\x1b]52;c;SGVsbG8=\x07 \x9b2J done")
    line = watcher.wait_for(r"^<Evil> .*done$").group(0)
    assert "\x1b" not in line and "\x9b" not in line and "\x07" not in line
    assert "␛]52;c;SGVsbG8=␇" in line


def test_events_reports_a_refused_connection(processes):
    denied = processes("events", "--host", "127.0.0.1:9", "--nick", "Nobody")
    denied.wait_for(r"CONNECTION_FAILED")
    assert denied.proc.wait(10) == 1


def test_bare_command_has_help():
    out = subprocess.run([*OZCHAT, "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--host", "--line", "--nick"):
        assert option in out


def test_readme_and_ci_use_the_same_test_command():
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    command = re.search(r"^\s*(pip install -e '\.\[test\]' && pytest.*)$", readme, re.M).group(1)
    assert command in ci
