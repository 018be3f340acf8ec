"""What the chat says when the hub gives back less than it had: its history, or the nickname asked for."""

from __future__ import annotations

from relay import Relay

from ozchat import OzWebClient
from ozchat.hub import Hub
from ozchat.hub.store import MemoryStore
from ozchat.tui.app import Join, OzChatApp
from ozchat.tui.widgets import PeopleList, StatusBar

from .conftest import chat_lines, fixed_clock, until

FAST = {"ping_interval": None, "backoff_base": 0.05, "backoff_cap": 0.3}
NOTICE = "The hub's history was reset; below is everything it still has"


def status_me(app: OzChatApp) -> str:
    return str(app.query_one(StatusBar).query_one("#status-me").render())


def people_names(app: OzChatApp) -> list[str]:
    return [str(option.prompt) for option in app.query_one(PeopleList).options]


async def test_a_hub_restarted_without_its_history_is_said_to_have_lost_it_above_its_replay(unused_tcp_port):
    app = OzChatApp(
        OzWebClient(**FAST), join=Join(f"127.0.0.1:{unused_tcp_port}", "Webphone1", {"nickname": "John"}), clock=fixed_clock
    )
    mary = OzWebClient(**FAST)
    async with app.run_test(size=(120, 40)) as pilot:
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), grace=0, ping_interval=None) as first:
            await until(pilot, lambda: app.me is not None)
            await mary.connect(first.url, "Webphone1", {"nickname": "Mary"})
            await mary.send_message("before the restart")
            await until(pilot, lambda: any("before the restart" in line for line in chat_lines(app)))
            assert not any(NOTICE in line for line in chat_lines(app))
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), grace=0, ping_interval=None):
            await until(pilot, lambda: mary.connected, timeout=10)
            await mary.send_message("after the restart")
            await until(pilot, lambda: any("after the restart" in line for line in chat_lines(app)), timeout=10)
            lines = chat_lines(app)
            notices = [index for index, line in enumerate(lines) if NOTICE in line]
            assert len(notices) == 1
            assert notices[0] < next(index for index, line in enumerate(lines) if "after the restart" in line)
            await mary.disconnect()


async def test_a_nickname_taken_at_the_first_join_is_said_and_the_given_one_shown(hub, connect):
    await connect(nickname="John")
    app = OzChatApp(
        OzWebClient(ping_interval=None, pick_free_nickname=True), join=Join(hub.url, "Webphone1", {"nickname": "john"}), clock=fixed_clock
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        assert app.client.nickname == "john2"
        assert any("john was taken; you are john2" in line for line in chat_lines(app))
        assert "john2" in status_me(app)
        await until(pilot, lambda: any("john2" in name for name in people_names(app)))


async def test_a_nickname_taken_while_reconnecting_is_said_and_the_given_one_shown(unused_tcp_port):
    async with Relay(unused_tcp_port) as relay:
        client = OzWebClient(**FAST, pick_free_nickname=True)
        app = OzChatApp(client, join=Join(relay.url, "Webphone1", {"nickname": "John"}), clock=fixed_clock)
        other = OzWebClient(ping_interval=None, reconnect=False)
        async with app.run_test(size=(120, 40)) as pilot:
            async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), grace=0, ping_interval=None):
                await until(pilot, lambda: app.me is not None)
                assert not any("was taken" in line for line in chat_lines(app))
                relay.hold()  # John comes back only once the other John has the name
            async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), grace=0, ping_interval=None) as second:
                await other.connect(second.url, "Webphone1", {"nickname": "John"})
                relay.release()
                await until(pilot, lambda: any("are back on" in line for line in chat_lines(app)), timeout=10)
                assert app.client.nickname == "John2"
                assert any("John was taken; you are John2" in line for line in chat_lines(app))
                assert "John2" in status_me(app)
                await until(pilot, lambda: any("John2" in name for name in people_names(app)))
                await other.disconnect()
