"""Desktop notifications through the terminal: only while it is not focused, for a direct message
or a mention, rate-limited, and never carrying a control character or escape of someone else's."""

from __future__ import annotations

import pytest
from textual import events

from ozchat.cli import build_parser
from ozchat.settings import ChatSettings, SettingsError, load_settings
from ozchat.text import is_unprintable
from ozchat.tui.notifications import NOTIFY_INTERVAL, Notifier, notification_sequence

from .conftest import joined, listed, make_app, said, until
from .test_safety import HOSTILE_TEXT
from .test_unread import FakeClock

HOSTILE_TEXTS = [
    HOSTILE_TEXT,
    "end \x1b\\ then \x07 and \x9c; 777;notify;fake;title",
    "\u202eevil\u2066",
    "a" * 500,
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
@pytest.mark.parametrize("kind", ["osc777", "osc9"])
def test_a_notification_carries_no_control_character_of_anyone_else(kind, text):
    sequence = notification_sequence(kind, f"Mary{text}", text)
    opening = "\x1b]777;notify;" if kind == "osc777" else "\x1b]9;"
    assert sequence.startswith(opening) and sequence.endswith("\x1b\\")
    inner = sequence[len(opening) : -2]
    assert not any(is_unprintable(char) for char in inner)
    assert inner.count(";") == (1 if kind == "osc777" else 0)  # only the separator between title and body
    assert len(inner) < 400


def test_bell_and_off_send_no_sequence():
    assert notification_sequence("bell", "Mary", "hi") == notification_sequence("off", "Mary", "hi") == ""


def test_notify_comes_from_the_flag_or_the_setting_and_a_bad_one_is_refused(tmp_path):
    assert build_parser(ChatSettings()).parse_args([]).notify == "bell"
    path = tmp_path / "settings.toml"
    path.write_text('notify = "osc9"\n')
    assert build_parser(load_settings(path)).parse_args([]).notify == "osc9"
    assert build_parser(load_settings(path)).parse_args(["--notify", "off"]).notify == "off"
    path.write_text('notify = "popup"\n')
    with pytest.raises(SettingsError, match="notify should be one of osc777, osc9, bell, off"):
        load_settings(path)
    with pytest.raises(ValueError):
        Notifier("popup", print, FakeClock())


async def test_only_while_unfocused_only_for_me_and_at_most_one_every_few_seconds(hub, connect):
    clock = FakeClock()
    written: list[str] = []
    app = make_app(hub.url, monotonic=clock, notify="osc777", terminal=written.append)
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        await mary.send_message("John: while you look")
        await until(pilot, lambda: said(app, "while you look"))
        assert written == []  # focused: the bell may ring, no notification
        app.post_message(events.AppBlur())
        await until(pilot, lambda: not app.app_focus)
        await mary.send_message("nothing for anyone here")
        await mary.send_message(f"John: {HOSTILE_TEXT}")
        await until(pilot, lambda: len(written) == 1)
        assert written[0].startswith("\x1b]777;notify;Mary in #Webphone1;John: copy ␛]52,c,aGk=␇")
        await mary.send_message("psst", to=app.me.phone_number)
        await until(pilot, lambda: said(app, "psst", f"dm-{mary.phone_number}"))
        assert len(written) == 1  # within the interval
        clock.now += NOTIFY_INTERVAL
        await mary.send_message("psst again", to=app.me.phone_number)
        await until(pilot, lambda: len(written) == 2)
        assert written[1] == "\x1b]777;notify;Mary (direct);psst again\x1b\\"


async def test_off_rings_no_bell_either(hub, connect):
    rings: list[None] = []
    app = make_app(hub.url, notify="off", terminal=lambda sequence: pytest.fail("nothing is written"))
    app.bell = lambda: rings.append(None)
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        app.post_message(events.AppBlur())
        await mary.send_message("psst", to=app.me.phone_number)
        await until(pilot, lambda: said(app, "psst", f"dm-{mary.phone_number}"))
        assert rings == []
