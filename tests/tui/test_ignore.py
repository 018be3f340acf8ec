"""/ignore: someone's messages, actions and direct messages hidden and counted, their row dimmed,
the list kept per hub and line for the next run."""

from __future__ import annotations

import stat

import pytest

from ozchat.tui.commands import CommandError, Ignore, Unignore, parse
from ozchat.tui.ignoring import IgnoreList, ignored_path
from ozchat.tui.widgets import PeopleList

from .conftest import chat_lines, joined, listed, make_app, said, until


def row_text(app, phone_number: str) -> str:
    people = app.query_one(PeopleList)
    return str(people.get_option(phone_number).prompt)


@pytest.mark.parametrize(
    ("line", "command"),
    [("/ignore", Ignore(None)), ("/ignore Mary", Ignore("Mary")), ('/ignore "Mary Ann"', Ignore("Mary Ann")),
     ("/unignore 4xQ2a", Unignore("4xQ2a"))],
)
def test_parse(line, command):
    assert parse(line) == command


@pytest.mark.parametrize("line", ["/unignore", "/ignore Mary now"])
def test_parse_refuses(line):
    with pytest.raises(CommandError, match="usage"):
        parse(line)


async def test_an_ignored_persons_messages_are_hidden_and_counted_and_their_row_dimmed(hub, connect, tmp_path):
    path = tmp_path / "ignored.json"
    app = make_app(hub.url, ignoring=IgnoreList(path))
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        bob, _ = await listed(pilot, app, connect(nickname="Bob"))
        await pilot.press(*"/ignore mary", "enter")
        await until(pilot, lambda: said(app, "You now ignore Mary"))
        await until(pilot, lambda: "ignored" in row_text(app, mary.phone_number))
        assert "ignored" not in row_text(app, bob.phone_number)
        await mary.send_message("can you see me")
        await mary.send_message("waves", action=True)
        await mary.send_message("psst", to=app.me.phone_number)
        await bob.send_message("after Mary")
        await until(pilot, lambda: said(app, "<Bob> after Mary"))
        await until(pilot, lambda: said(app, "3 messages hidden from people you ignore"))
        assert not any("can you see me" in line or "waves" in line for line in chat_lines(app))
        assert app.tabs.direct(mary.phone_number) is None  # no tab opened for a hidden direct message
        await pilot.press(*"/ignore", "enter")
        await until(pilot, lambda: said(app, "You ignore: Mary"))
        assert IgnoreList(path).names() == ["Mary"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        await pilot.press(*f"/unignore {mary.phone_number}", "enter")
        await until(pilot, lambda: said(app, "You no longer ignore Mary"))
        await mary.send_message("visible again")
        await until(pilot, lambda: said(app, "<Mary> visible again"))
        assert "ignored" not in row_text(app, mary.phone_number)


async def test_the_list_is_kept_for_the_next_run_and_hides_replayed_history_too(hub, connect, tmp_path):
    path = tmp_path / "ignored.json"
    IgnoreList(path).add("Mary")
    mary, _ = await connect(nickname="Mary")
    await mary.send_message("said before John came")
    app = make_app(hub.url, ignoring=IgnoreList(path))
    async with joined(app) as pilot:
        bob, _ = await listed(pilot, app, connect(nickname="Bob"))
        await bob.send_message("hi all")
        await until(pilot, lambda: said(app, "<Bob> hi all"))
        assert not said(app, "said before John came") and said(app, "1 message hidden")
        await pilot.press(*"/ignore John", "enter")
        await until(pilot, lambda: said(app, "you cannot ignore yourself"))


def test_the_file_is_per_hub_and_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert ignored_path("127.0.0.1:7779", "Sales") == tmp_path / "ozchat/ignored/127.0.0.1_7779/Sales.json"
