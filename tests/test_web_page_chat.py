"""The web chat page as a person uses it, in a real headless Chromium against real hubs: who is
already there and who comes and goes, a hub that lost its history or some messages, typing
when the "To" target changes, and a direct message whose recipient has left."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_store import _damage, _store_with_messages

from ozchat import OzWebClient
from ozchat.events import ConnectionStateChanged
from ozchat.hub import Hub
from ozchat.hub.store import MemoryStore, SQLiteStore
from ozchat.protocol import ChatMessage, TypingNotice

from browser import Page, chromium, join_from_page, log_line_with, page_url
from conftest import Recorder
from relay import Relay

pytestmark = pytest.mark.timeout(90)

GAP = "15 earlier messages could not be replayed"
FAST = {"ping_interval": None, "backoff_base": 0.05, "backoff_cap": 0.3}
HISTORY_RESET = "The hub's history was reset; below is everything it still has (older messages are gone from it)"
# The text of each line of the chat: a message's text, a notice's words.
LOG = "return [...document.querySelectorAll('#log li .text')].map((span) => span.textContent)"
PRESENCE_LINES = "return [...document.querySelectorAll('#log li.presence .text')].map((span) => span.textContent)"
MESSAGE_TEXTS = "return [...document.querySelectorAll('#log li.message .text')].map((span) => span.textContent)"
NOTICES = "return [...document.querySelectorAll('#log li.notice .text')].map((span) => span.textContent)"


async def python_client(url: str, nickname: str, **options: Any) -> tuple[OzWebClient, Recorder]:
    client = OzWebClient(**{"ping_interval": None, **options})
    events = Recorder(client)
    await client.connect(url, "Webphone1", {"nickname": nickname})
    return client, events


def typing(sender: str, to: str | None, stopped: bool) -> Callable[[object], bool]:
    return lambda e: isinstance(e, TypingNotice) and (e.sender, e.to, e.stopped) == (sender, to, stopped)


async def choose(page: Page, value: str) -> None:
    """Pick `value` in the "To" list as a user does (a change event follows)."""

    def _select() -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        Select(page.driver.find_element(By.ID, "to")).select_by_value(value)

    await page.run(_select)


async def type_more(page: Page, text: str) -> None:
    """Keys pressed in the composer, after what it holds."""

    def _type() -> None:
        from selenium.webdriver.common.by import By

        page.driver.find_element(By.ID, "text").send_keys(text)

    await page.run(_type)


async def listed(page: Page, *phone_numbers: str) -> None:
    await page.wait_for_script(
        "return arguments[0].every((n) => document.querySelector(`#roster li[data-phone-number='${n}']`))",
        f"{phone_numbers} in the page's list",
        list(phone_numbers),
    )


# ---- who is there, who comes and goes -----------------------------------------------------------


async def test_those_already_on_the_line_are_listed_not_announced_and_a_resume_tells_only_what_changed():
    async with Hub("127.0.0.1", 0, ping_interval=None) as hub, Relay(hub.port) as relay:
        mary, _ = await python_client(hub.url, "Mary")
        bob, _ = await python_client(hub.url, "Bob")
        await mary.send_message("said before Anna came")
        dave = carol = None
        try:
            async with chromium() as page:
                await join_from_page(page, page_url(relay.port, "/line/Webphone1"), "Anna")
                # Joined, the page is ready to be typed in.
                assert await page.script("return document.activeElement.id") == "text"
                await listed(page, mary.phone_number, bob.phone_number)
                await log_line_with(page, "said before Anna came")
                carol, _ = await python_client(hub.url, "Carol")
                await log_line_with(page, "Carol is ONLINE")
                assert await page.script(PRESENCE_LINES) == ["Carol is ONLINE"]

                # Away for a while: Bob leaves and Dave comes meanwhile; Anna resumes her number.
                relay.hold()
                relay.cut()
                await log_line_with(page, "connection lost; reconnecting")
                await bob.disconnect()
                dave, _ = await python_client(hub.url, "Dave")
                relay.release()
                await log_line_with(page, "connected again")
                await log_line_with(page, "Dave is ONLINE")
                await listed(page, mary.phone_number, carol.phone_number, dave.phone_number)
                assert await page.script(PRESENCE_LINES) == ["Carol is ONLINE", "Bob is OFFLINE", "Dave is ONLINE"]
                assert "connected again" in await page.script(NOTICES)  # resumed: the same number
        finally:
            for client in (mary, bob, carol, dave):
                if client is not None:
                    await client.disconnect()


# ---- what the hub could not give back -----------------------------------------------------------


async def test_a_hub_that_lost_its_history_is_told_above_its_replay_and_nothing_shows_twice(unused_tcp_port):
    hub_options: dict[str, Any] = {"ping_interval": None, "grace": 0}
    async with Relay(unused_tcp_port) as relay, chromium() as page:
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), **hub_options) as first:
            mary, mary_events = await python_client(first.url, "Mary", **FAST)
            await mary.send_message("before the restart")
            await join_from_page(page, page_url(relay.port, "/line/Webphone1"), "Anna")
            await listed(page, mary.phone_number)
            await page.click(f"#roster li[data-phone-number='{mary.phone_number}']")
            await mary.send_message("seen live before the restart")
            await log_line_with(page, "seen live before the restart")
            relay.hold()  # Anna's reconnects wait at the door until the new hub has a message
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), **hub_options):
            old_number = mary.phone_number
            granted = [e for e in mary_events.of_type(ConnectionStateChanged) if e.state == "ACCESS_GRANTED"]
            await mary_events.wait_for(
                lambda e: isinstance(e, ConnectionStateChanged) and e.state == "ACCESS_GRANTED" and e not in granted
            )
            assert mary.phone_number != old_number  # a hub without its store gave everyone new numbers
            await mary.send_message("after the restart")
            relay.release()
            await log_line_with(page, "after the restart")
            log = await page.script(LOG)
            assert log.count(HISTORY_RESET) == 1
            assert log.index("seen live before the restart") < log.index(HISTORY_RESET) < log.index("after the restart")
            assert await page.script(MESSAGE_TEXTS) == [
                "before the restart", "seen live before the restart", "after the restart"
            ]
            # Mary came back under a new number: the same person, not one leaving and one arriving;
            # the "To" list followed her.
            assert await page.script(PRESENCE_LINES) == []
            assert await page.script("return document.getElementById('to').value") == mary.phone_number
            await mary.disconnect()


async def test_messages_the_hub_no_longer_has_are_told_as_a_gap():
    async with Hub("127.0.0.1", 0, store=MemoryStore(keep_messages=5), ping_interval=None) as hub:
        async with Relay(hub.port) as relay, chromium() as page:
            await join_from_page(page, page_url(relay.port, "/line/Webphone1"), "Anna")
            bob, _ = await python_client(hub.url, "Bob")
            await bob.send_message("seen")
            await log_line_with(page, "seen")
            relay.hold()  # Anna's resume waits at the door until the burst is over
            relay.cut()
            for n in range(20):
                await bob.send_message(f"burst {n}")
            relay.release()
            await log_line_with(page, "burst 19")
            log = await page.script(LOG)
            assert log.count(GAP) == 1 and log.index("seen") < log.index(GAP) < log.index("burst 15")
            assert await page.script(MESSAGE_TEXTS) == ["seen"] + [f"burst {n}" for n in range(15, 20)]
            await bob.disconnect()


async def test_history_the_hub_cannot_read_is_said_and_live_chat_goes_on(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    _store_with_messages(path, 3000)
    _damage(path)
    async with Hub("127.0.0.1", 0, store=SQLiteStore(path), history=3000, ping_interval=None) as hub:
        async with chromium() as page:
            await join_from_page(page, page_url(hub.port, "/line/Webphone1"), "Anna")
            said = await log_line_with(page, "the hub says history_unavailable")
            assert "live chat goes on" in said
            bob, _ = await python_client(hub.url, "Bob")
            await bob.send_message("still here")
            await log_line_with(page, "still here")
            await bob.disconnect()


# ---- typing and the "To" target ---------------------------------------------------------------


async def test_changing_the_to_target_while_typing_ends_the_typing_where_it_was():
    async with Hub("127.0.0.1", 0, ping_interval=None) as hub, chromium() as page:
        mary, mary_events = await python_client(hub.url, "Mary")
        bob, bob_events = await python_client(hub.url, "Bob")
        try:
            anna = await join_from_page(page, page_url(hub.port, "/line/Webphone1"), "Anna")
            await listed(page, mary.phone_number, bob.phone_number)
            await page.type_into("text", "hello")
            await mary_events.wait_for(typing(anna, None, False))

            # To Bob, by the "To" list: the line hears the typing stop; Bob hears it once keys are pressed.
            await choose(page, bob.phone_number)
            await mary_events.wait_for(typing(anna, None, True))
            await type_more(page, " Bob")
            await bob_events.wait_for(typing(anna, bob.phone_number, False))

            # Picking a name in the sidebar changes the target too: Bob hears his typing stop.
            await page.click(f"#roster li[data-phone-number='{mary.phone_number}']")
            await bob_events.wait_for(typing(anna, bob.phone_number, True))
            await type_more(page, " and Mary")
            await mary_events.wait_for(typing(anna, mary.phone_number, False))

            # Back to everyone: Mary hears the typing to her stop.
            await choose(page, "")
            await mary_events.wait_for(typing(anna, mary.phone_number, True))
            assert await page.script("return document.getElementById('text').value") == "hello Bob and Mary"
        finally:
            await mary.disconnect()
            await bob.disconnect()


# ---- a direct message whose recipient left ------------------------------------------------------


async def test_a_direct_message_whose_recipient_left_is_not_sent_to_everyone():
    async with Hub("127.0.0.1", 0, ping_interval=None) as hub, chromium() as page:
        mary, _ = await python_client(hub.url, "Mary")
        bob, bob_events = await python_client(hub.url, "Bob")
        try:
            await join_from_page(page, page_url(hub.port, "/line/Webphone1"), "Anna")
            await listed(page, mary.phone_number, bob.phone_number)
            await page.click(f"#roster li[data-phone-number='{mary.phone_number}']")
            await page.type_into("text", "only for Mary")
            await mary.disconnect()
            await log_line_with(page, "Mary is OFFLINE")
            # The "To" list still names her, as gone; sending is refused and the text kept.
            shown = await page.script(
                "const to = document.getElementById('to'); return [to.value, to.selectedOptions[0].textContent]"
            )
            assert shown == [mary.phone_number, "Mary (left)"]
            await page.click("#composer button")
            await log_line_with(page, "Not sent: Mary has left the line")
            assert await page.script("return document.getElementById('text').value") == "only for Mary"

            # Choosing everyone drops her from the list; what is sent then goes to the line, as chosen.
            await choose(page, "")
            assert await page.script("return [...document.getElementById('to').options].map((o) => o.value)") == [
                "", bob.phone_number
            ]
            await page.type_into("text", "for everyone")
            await page.click("#composer button")
            await bob_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "for everyone")
            assert [e.text for e in bob_events.of_type(ChatMessage)] == ["for everyone"]
        finally:
            await mary.disconnect()
            await bob.disconnect()
