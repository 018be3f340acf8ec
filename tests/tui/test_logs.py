"""Logs on disk: every conversation to a file a day, private, replayed history written once."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from ozchat import OzWebClient
from ozchat.chat_logs import LineLogs, make_private_folder
from ozchat.cli import build_parser
from ozchat.hub import Hub
from ozchat.settings import ChatSettings, load_settings
from ozchat.tui.app import Join, OzChatApp

from .conftest import fixed_clock, joined, listed, said, until


def logging_app(hub: Hub, root: Path, nickname: str = "John") -> OzChatApp:
    client = OzWebClient(ping_interval=None)
    logs = LineLogs(root, hub.url, "Webphone1")
    return OzChatApp(client, join=Join(hub.url, "Webphone1", {"nickname": nickname}), clock=fixed_clock, chat_logs=logs)


def logged(folder: Path) -> list[str]:
    """The lines of every day's log in `folder`, oldest day first, without their date and time."""
    return [line[20:] for path in sorted(folder.glob("*.log")) for line in path.read_text().splitlines()]


def line_folder(hub: Hub, root: Path) -> Path:
    return root / f"127.0.0.1_{hub.port}" / "Webphone1"


async def test_messages_actions_events_and_directs_are_logged_privately(hub, connect, tmp_path):
    root = tmp_path / "logs"
    app = logging_app(hub, root)
    folder = line_folder(hub, root)
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="../Mary"))
        await mary.send_message("hi\x1b]0;owned\x07 all\nsecond line")
        await mary.send_message("waves", action=True)
        await mary.send_message("psst", to=app.me.phone_number)
        await pilot.press(*"hello Mary", "enter")
        await until(pilot, lambda: "<John> hello Mary" in logged(folder))
        await mary.disconnect()
        await until(pilot, lambda: "-- ../Mary is OFFLINE" in logged(folder))
    # Events are stamped by the app's fixed clock (2024), messages by the hub: each goes in its day's file.
    assert logged(folder) == [
        "-- ../Mary is ONLINE",
        "-- ../Mary is OFFLINE",
        "<../Mary> hi␛]0;owned␇ all␊second line",
        "* ../Mary waves",
        "<John> hello Mary",
    ]
    direct = folder / "direct-.._Mary"  # a name is never a path
    assert logged(direct) == ["<../Mary> psst"]
    for path in [root, root / f"127.0.0.1_{hub.port}", folder, direct]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in [*folder.glob("*.log"), *direct.glob("*.log"), folder / "logged.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert all(len(path.stem) == len("2026-11-26") for path in folder.glob("*.log"))


async def test_history_replayed_on_every_join_is_logged_once(hub, connect, tmp_path):
    root = tmp_path / "logs"
    folder = line_folder(hub, root)
    mary, _ = await connect(nickname="Mary")
    await mary.send_message("said before anyone came")
    await mary.send_message("and again")
    first = logging_app(hub, root)
    async with joined(first) as pilot:
        await until(pilot, lambda: "<Mary> and again" in logged(folder))
    second = logging_app(hub, root)
    async with joined(second) as pilot:
        await until(pilot, lambda: said(second, "<Mary> and again"))  # replayed to this join too
        await mary.send_message("said live")
        await until(pilot, lambda: "<Mary> said live" in logged(folder))
    said_lines = [line for line in logged(folder) if not line.startswith("-- ")]  # not who was there at each join
    assert said_lines == ["<Mary> said before anyone came", "<Mary> and again", "<Mary> said live"]


async def test_log_command_shows_the_file_or_says_logging_is_off(hub, tmp_path):
    root = tmp_path / "logs"
    app = logging_app(hub, root)
    async with joined(app) as pilot:
        await pilot.press(*"/log", "enter")
        path = line_folder(hub, root) / f"{fixed_clock():%Y-%m-%d}.log"
        await until(pilot, lambda: said(app, f"This tab is logged to {path}"))
    unlogged = OzChatApp(OzWebClient(ping_interval=None), join=Join(hub.url, "Webphone1", {"nickname": "Bob"}))
    async with joined(unlogged) as pilot:
        await pilot.press(*"/log", "enter")
        await until(pilot, lambda: said(unlogged, "Logging is off"))


async def test_a_log_that_cannot_be_written_is_said_once_and_the_chat_goes_on(hub, connect, tmp_path):
    root = tmp_path / "logs"
    root.write_text("a file where the folder would be")
    app = logging_app(hub, root)
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        await mary.send_message("first")
        await mary.send_message("second")
        await until(pilot, lambda: said(app, "<Mary> second") and said(app, "no longer logged"))  # told by the writer
        await mary.send_message("third")
        await until(pilot, lambda: said(app, "<Mary> third"))
        failures = [line for line in app.line_conversation.chat.plain_lines if "no longer logged" in line]
        assert len(failures) == 1


def test_logging_is_on_unless_turned_off_by_flag_or_setting(tmp_path):
    assert build_parser(ChatSettings()).parse_args([]).log is True
    assert build_parser(ChatSettings()).parse_args(["--no-log"]).log is False
    path = tmp_path / "settings.toml"
    path.write_text("log = false\n")
    settings = load_settings(path)
    assert settings.log is False
    assert build_parser(settings).parse_args([]).log is False
    assert build_parser(settings).parse_args(["--log"]).log is True


def read_until_closed(fifo: Path, lines: list[str]) -> None:
    """Open the named pipe (waiting for its writer) and keep what is written, without date and time, until the
    writer closes it."""
    with fifo.open(encoding="utf-8") as reader:
        lines.extend(line[20:] for line in reader.read().splitlines())


async def test_a_stalled_log_file_holds_up_no_chat_and_every_line_is_written_by_exit(hub, connect, tmp_path):
    root = tmp_path / "logs"
    folder = line_folder(hub, root)
    make_private_folder(folder, root)
    # Events are stamped by the app's fixed clock, so they go to this day's file: here a pipe no one reads yet,
    # where a write waits as on a stalled disk.
    stalled = folder / f"{fixed_clock():%Y-%m-%d}.log"
    os.mkfifo(stalled, 0o600)
    burst = [f"burst {n} " + "x" * 200 for n in range(300)]
    app = logging_app(hub, root)
    events: list[str] = []
    disk_back = threading.Thread(target=read_until_closed, args=(stalled, events))
    async with joined(app) as pilot:
        try:
            mary, _ = await listed(pilot, app, connect(nickname="Mary"))  # `-- Mary is ONLINE`: to the stalled file
            for text in burst:
                await mary.send_message(text)
            await until(pilot, lambda: said(app, burst[-1]))  # the chat went on meanwhile
        finally:
            disk_back.start()  # the disk is back; the app's exit writes all that waited
    disk_back.join()
    assert events == ["-- Mary is ONLINE"]
    days = [path for path in sorted(folder.glob("*.log")) if path.is_file()]  # the messages' days, by the hub's clock
    assert [line[20:] for day in days for line in day.read_text().splitlines()] == [f"<Mary> {text}" for text in burst]
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in folder.glob("*.log"))
