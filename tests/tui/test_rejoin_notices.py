"""What the chat says when the hub gives back less than it had: its history, or the nickname asked for."""

from __future__ import annotations

from ozchat import OzWebClient
from ozchat.hub import Hub
from ozchat.hub.store import MemoryStore
from ozchat.tui.app import OzChatApp
from ozchat.tui.widgets import PeopleList, StatusBar

from .conftest import SIZE, chat_lines, joined, make_app, said, until
from relay import Relay

FAST = {"ping_interval": None, "backoff_base": 0.05, "backoff_cap": 0.3}
NOTICE = "The hub's history was reset; below is everything it still has"


def status_me(app: OzChatApp) -> str:
    return str(app.query_one(StatusBar).query_one("#status-me").render())


def people_names(app: OzChatApp) -> list[str]:
    return [str(option.prompt) for option in app.query_one(PeopleList).options]


async def test_a_hub_restarted_without_its_history_is_said_to_have_lost_it_above_its_replay(unused_tcp_port):
    app = make_app(f"127.0.0.1:{unused_tcp_port}", client=OzWebClient(**FAST))
    mary = OzWebClient(**FAST)
    async with app.run_test(size=SIZE) as pilot:
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), grace=0, ping_interval=None) as first:
            await until(pilot, lambda: app.me is not None)
            await mary.connect(first.url, "Webphone1", {"nickname": "Mary"})
            await mary.send_message("before the restart")
            await until(pilot, lambda: said(app, "before the restart"))
            assert not said(app, NOTICE)
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), grace=0, ping_interval=None):
            await until(pilot, lambda: mary.connected, timeout=10)
            await mary.send_message("after the restart")
            await until(pilot, lambda: said(app, "after the restart"), timeout=10)
            lines = chat_lines(app)
            notices = [index for index, line in enumerate(lines) if NOTICE in line]
            assert len(notices) == 1
            assert notices[0] < next(index for index, line in enumerate(lines) if "after the restart" in line)
            await mary.disconnect()


async def test_a_nickname_taken_at_the_first_join_is_said_and_the_given_one_shown(hub, connect):
    await connect(nickname="John")
    app = make_app(hub.url, "john", client=OzWebClient(ping_interval=None, pick_free_nickname=True))
    async with joined(app) as pilot:
        assert app.client.nickname == "john2"
        assert said(app, "john was taken; you are john2")
        assert "john2" in status_me(app)
        await until(pilot, lambda: any("john2" in name for name in people_names(app)))


async def test_a_nickname_taken_while_reconnecting_is_said_and_the_given_one_shown(unused_tcp_port):
    async with Relay(unused_tcp_port) as relay:
        app = make_app(relay.url, client=OzWebClient(**FAST, pick_free_nickname=True))
        other = OzWebClient(ping_interval=None, reconnect=False)
        async with app.run_test(size=SIZE) as pilot:
            async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), grace=0, ping_interval=None):
                await until(pilot, lambda: app.me is not None)
                assert not said(app, "was taken")
                relay.hold()  # John comes back only once the other John has the name
            async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), grace=0, ping_interval=None) as second:
                await other.connect(second.url, "Webphone1", {"nickname": "John"})
                relay.release()
                await until(pilot, lambda: said(app, "are back on"), timeout=10)
                assert app.client.nickname == "John2"
                assert said(app, "John was taken; you are John2")
                assert "John2" in status_me(app)
                await until(pilot, lambda: any("John2" in name for name in people_names(app)))
                await other.disconnect()
