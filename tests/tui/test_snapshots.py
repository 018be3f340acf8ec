"""SVG snapshots of the chat screen, fed a fixed list of events through the Message path."""

from __future__ import annotations

from ozchat import ChatMessage, ClientInfo, ClientStatus, ConnectionState, ConnectionStateChanged, OzWebClient
from ozchat.tui.app import OzChatApp
from ozchat.tui.messages import ChatReceived, ConnectionChanged, PresenceChanged
from ozchat.tui.widgets.composer import Composer

from .conftest import FIXED_TIME, fixed_clock

MINUTE_MS = 60_000
START_MS = int(FIXED_TIME.timestamp() * 1000) - 30 * MINUTE_MS

JOHN = ClientInfo("J0hnn", ClientStatus.ONLINE, {"nickname": "John"})
MARY = ClientInfo("M4ry0", ClientStatus.ONLINE, {"nickname": "Mary", "away": "lunch"})
BOB = ClientInfo("B0bby", ClientStatus.ONLINE, {"nickname": "Bob", "avatar": "http://example.com/bob.png"})


def said(
    seq: int, who: ClientInfo, text: str, *, minutes: int, history: bool = False, action: bool = False
) -> ChatReceived:
    return ChatReceived(
        ChatMessage(
            seq=seq,
            ts=START_MS + minutes * MINUTE_MS,
            sender=who.phone_number,
            text=text,
            nickname=who.nickname,
            action=action,
            history=history,
        )
    )


EVENTS = [
    ConnectionChanged(ConnectionStateChanged(ConnectionState.ACCESS_GRANTED), me=JOHN, line="Webphone1"),
    PresenceChanged((MARY, BOB)),
    said(1, MARY, "morning all", minutes=1, history=True),
    said(2, BOB, "morning! the build is green again", minutes=2, history=True),
    said(
        3,
        BOB,
        "has anyone seen the release notes? I would like to go through them before the call this afternoon",
        minutes=20,
    ),
    said(4, JOHN, "they are in the wiki, under Releases", minutes=21),
    said(5, MARY, "thanks John, reading now", minutes=22),
    said(6, BOB, "waves", minutes=23, action=True),
]


def steady_cursor(composer: Composer) -> None:
    """No blinking: the blink timer may show the cursor at any moment, which makes the picture depend on timing."""
    composer.cursor_blink = False


def snapshot_app() -> OzChatApp:
    return OzChatApp(OzWebClient(), join=None, clock=fixed_clock)


async def feed(pilot) -> None:
    steady_cursor(pilot.app.query_one(Composer))
    for event in EVENTS:
        pilot.app.post_message(event)
    await pilot.pause()
    await pilot.pause()


def test_main_screen_120x40(snap_compare):
    assert snap_compare(snapshot_app(), terminal_size=(120, 40), run_before=feed)


def test_main_screen_80x24(snap_compare):
    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=feed)


def test_main_screen_60x20_hides_the_sidebar(snap_compare):
    assert snap_compare(snapshot_app(), terminal_size=(60, 20), run_before=feed)


def test_main_screen_60x20_f2_shows_the_sidebar(snap_compare):
    async def feed_then_f2(pilot) -> None:
        await feed(pilot)
        await pilot.press("f2")

    assert snap_compare(snapshot_app(), terminal_size=(60, 20), run_before=feed_then_f2)
