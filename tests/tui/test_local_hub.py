"""The chat started against an empty loopback port: a hub starts, and the user is told where."""

from __future__ import annotations

import os
import signal
import socket

from ozchat.cli import build_chat_app, build_parser, local_hub_notice, start_local_hub_if_needed
from ozchat.tui.widgets import StatusBar

from .conftest import until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_chat_tells_the_user_it_started_a_local_hub(tmp_path, monkeypatch):
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    port = _free_port()
    args = build_parser().parse_args(["--host", f"127.0.0.1:{port}", "--nick", "John", "--autostart-idle", "3"])
    app = build_chat_app(args, "John")
    started = await start_local_hub_if_needed(args)
    assert started is not None and started.port == port
    try:
        app.startup_notice = local_hub_notice(started, args.autostart_idle)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.me is not None)
            lines = app.line_conversation.chat.plain_lines
            assert any(f"Started a local hub on 127.0.0.1:{port}" in line and str(started.log_path) in line for line in lines)
            state = app.query_one(StatusBar).query_one("#status-state").render()
            assert "local hub started here" in str(state)
            assert f"listening on ws://127.0.0.1:{port}/" in started.log_path.read_text()
    finally:
        os.kill(started.pid, signal.SIGTERM)
