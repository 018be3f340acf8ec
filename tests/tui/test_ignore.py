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


async def test_an_ignored_person_stays_ignored_under_a_new_nickname_and_one_who_takes_their_old_one_is_not(
    hub, connect, tmp_path
):
    path = tmp_path / "ignored.json"
    app = make_app(hub.url, ignoring=IgnoreList(path))
    async with joined(app) as pilot:
        bob, _ = await listed(pilot, app, connect(nickname="Bob"))
        await pilot.press(*"/ignore Bob", "enter")
        await until(pilot, lambda: said(app, "You now ignore Bob"))
        await bob.update_properties({"nickname": "Robert"})
        await until(pilot, lambda: said(app, "Bob is now known as Robert"))
        await bob.send_message("still me")
        newcomer, _ = await listed(pilot, app, connect(nickname="Bob"))
        await newcomer.send_message("I am the new Bob")
        await until(pilot, lambda: said(app, "<Bob> I am the new Bob"))
        assert not said(app, "still me") and said(app, "1 message hidden")
        assert "ignored" in row_text(app, bob.phone_number) and "ignored" not in row_text(app, newcomer.phone_number)
        assert IgnoreList(path).names() == ["Robert"]  # the nickname kept for next time follows the person


async def test_an_ignored_person_who_reconnects_under_their_nickname_is_ignored_again(hub, connect, tmp_path):
    app = make_app(hub.url, ignoring=IgnoreList(tmp_path / "ignored.json"))
    async with joined(app) as pilot:
        bob, _ = await listed(pilot, app, connect(nickname="Bob"))
        await pilot.press(*"/ignore Bob", "enter")
        await until(pilot, lambda: said(app, "You now ignore Bob"))
        await bob.disconnect()
        await until(pilot, lambda: said(app, "Bob is OFFLINE"))
        again, _ = await listed(pilot, app, connect(nickname="Bob"))  # a new connection, a new number
        await again.send_message("back again")
        await pilot.press(*f"/unignore {again.phone_number}", "enter")
        await until(pilot, lambda: said(app, "You no longer ignore Bob"))
        await again.send_message("seen now")
        await until(pilot, lambda: said(app, "<Bob> seen now"))
        assert not said(app, "back again") and said(app, "1 message hidden")


def test_the_rule_follows_its_person_through_a_hub_restart_and_falls_back_to_their_nickname_when_they_leave():
    from ozchat.events import RenumberedClient
    from ozchat.protocol import ClientInfo, ClientStatus

    ignoring = IgnoreList()
    ignoring.add("Bob", "AAAAA")
    ignoring.saw(RenumberedClient("BBBBB", ClientStatus.ONLINE, {"nickname": "Bob"}, previous_phone_number="AAAAA"))
    ignoring.saw(ClientInfo("BBBBB", ClientStatus.ONLINE, {"nickname": "Robert"}))
    assert ignoring.hides("BBBBB", "Robert") and ignoring.names() == ["Robert"]
    ignoring.saw(ClientInfo("CCCCC", ClientStatus.ONLINE, {"nickname": "Bob"}))
    assert not ignoring.hides("CCCCC", "Bob")  # took the nickname Bob left: someone else
    ignoring.saw(ClientInfo("BBBBB", ClientStatus.OFFLINE, {"nickname": "Robert"}))
    ignoring.saw(ClientInfo("DDDDD", ClientStatus.ONLINE, {"nickname": "Robert"}))
    assert ignoring.hides("DDDDD", "Robert")  # back under the nickname, on a new connection
    assert ignoring.remove("Robert", "DDDDD") and not ignoring.hides("DDDDD", "Robert")
