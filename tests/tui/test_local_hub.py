"""The chat started against an empty loopback port: a hub starts, the user is told where, and a
hub that died is started again; the status bar says "started here" only of a hub it started."""

from __future__ import annotations

import os
import signal
import socket

import pytest

from ozchat.cli import build_chat_app, build_parser
from ozchat.cli.chat import local_hub_notice
from ozchat.cli.options import local_hub_for
from ozchat.hub.autostart import ensure_local_hub
from ozchat.tui.widgets import StatusBar

from .conftest import joined, until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def user_dirs(tmp_path, monkeypatch) -> None:
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))


def _status(app) -> str:
    return str(app.query_one(StatusBar).query_one("#status-state").render())


async def test_chat_tells_the_user_it_started_a_local_hub(user_dirs):
    port = _free_port()
    # Idle long enough that a slow start of the app cannot find the hub gone; the test stops it.
    args = build_parser().parse_args(["--host", f"127.0.0.1:{port}", "--nick", "John", "--autostart-idle", "60"])
    local_hub = local_hub_for(args)
    assert local_hub is not None
    app = build_chat_app(args, "John", local_hub)
    started = await local_hub.ensure()
    assert started is not None and started.port == port
    try:
        app.startup_notice = local_hub_notice(started, args.autostart_idle)
        async with joined(app):
            lines = app.line_conversation.chat.plain_lines
            told = f"Started a local hub on 127.0.0.1:{port}"
            assert any(told in line and str(started.log_path) in line for line in lines)
            assert "local hub started here" in _status(app)
            assert f"listening on ws://127.0.0.1:{port}/" in started.log_path.read_text()
    finally:
        os.kill(started.pid, signal.SIGTERM)


async def test_chat_starts_a_dead_local_hub_again_and_says_started_here_only_then(user_dirs):
    port = _free_port()
    # As another client would; killed below, so its idle time only has to outlast the app's start.
    elsewhere = await ensure_local_hub("127.0.0.1", port, idle_exit=60)
    assert elsewhere is not None
    args = build_parser().parse_args(["--host", f"127.0.0.1:{port}", "--nick", "John", "--autostart-idle", "3"])
    local_hub = local_hub_for(args)
    app = build_chat_app(args, "John", local_hub)
    restarted = None
    try:
        async with joined(app) as pilot:
            assert _status(app).endswith("connected")  # not "started here": another client started it
            os.kill(elsewhere.pid, signal.SIGKILL)
            await until(pilot, lambda: "local hub started here" in _status(app), timeout=20)
            restarted = local_hub.started_here
            assert restarted is not None and restarted.pid != elsewhere.pid
            notice = (
                f"Started a local hub again on 127.0.0.1:{port}; it stops by itself 3 s after the last client leaves"
            )
            await until(pilot, lambda: any(notice in line for line in app.line_conversation.chat.plain_lines))
    finally:
        elsewhere.process.wait()
        if restarted is not None:
            os.kill(restarted.pid, signal.SIGTERM)
            restarted.process.wait()
