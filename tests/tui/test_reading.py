"""Days and where reading stopped: a rule when the day changes, and a marker above the first
message that arrived while the terminal was not focused or another tab was shown."""

from __future__ import annotations

from datetime import timedelta

from textual import events

from ozchat import ChatMessage
from ozchat.tui.messages import ChatReceived
from ozchat.tui.widgets.chat_entry import UNREAD_LABEL

from .conftest import FIXED_TIME, joined, listed, make_app, said, until, visible
from .test_snapshots import BOB, EVENTS, MARY, feed, snapshot_app

UNREAD = UNREAD_LABEL.strip()


def message(seq: int, who, text: str, days_ago: float, *, history: bool = False) -> ChatReceived:
    ts = int((FIXED_TIME - timedelta(days=days_ago)).timestamp() * 1000)
    return ChatReceived(ChatMessage(seq=seq, ts=ts, sender=who.phone_number, text=text, nickname=who.nickname,
                                    history=history))


def rows(app) -> list[str]:
    """The shown tab's lines as on screen, without trailing blanks."""
    return [row.rstrip() for row in visible(app.active_conversation.chat).splitlines() if row.strip()]


async def test_a_rule_names_the_day_when_it_changes_history_included():
    app = make_app(None)
    async with app.run_test() as pilot:
        for event in [
            message(1, MARY, "two days ago", 2.1, history=True),
            message(2, BOB, "also then", 2.05, history=True),
            message(3, MARY, "yesterday", 1, history=True),
            message(4, BOB, "today", 0),
        ]:
            app.post_message(event)
        await until(pilot, lambda: any("<Bob> today" in row for row in rows(app)))
        shown = rows(app)
    days = [row for row in shown if "─" in row and "history" not in row]
    assert [day.strip("─ ") for day in days] == ["Thursday 16 May 2024", "Friday 17 May 2024"]
    assert shown.index(days[0]) == 2 and "yesterday" in shown[3]  # no rule between two of the same day
    assert "history" in shown[4] and days[1] == shown[5] and "today" in shown[6]


async def test_a_marker_goes_above_the_first_message_said_while_the_terminal_was_not_focused(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        await mary.send_message("read it")
        await until(pilot, lambda: said(app, "<Mary> read it"))
        app.post_message(events.AppBlur())
        await until(pilot, lambda: not app.app_focus)
        await mary.send_message("while away")
        await mary.send_message("still away")
        await until(pilot, lambda: said(app, "<Mary> still away"))
        app.post_message(events.AppFocus())
        await mary.send_message("back again")
        await until(pilot, lambda: any("back again" in row for row in rows(app)))
        shown = rows(app)
        marker = next(n for n, row in enumerate(shown) if UNREAD in row)
        assert "<Mary> while away" in shown[marker + 1] and "<Mary> read it" in shown[marker - 1]
        assert sum(UNREAD in row for row in shown) == 1
        app.post_message(events.AppBlur())  # looking away again moves it below what was read since
        await mary.send_message("later")
        await until(pilot, lambda: any("later" in row for row in rows(app)))
        shown = rows(app)
        assert sum(UNREAD in row for row in shown) == 1
        assert "<Mary> later" in shown[next(n for n, row in enumerate(shown) if UNREAD in row) + 1]


async def test_a_marker_goes_above_what_a_tab_got_while_another_was_shown(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        await mary.send_message("seen on the line")
        await until(pilot, lambda: said(app, "<Mary> seen on the line"))
        await pilot.press(*"/msg Mary hi", "enter")
        tab = f"dm-{mary.phone_number}"
        await until(pilot, lambda: app.tabs.active == tab)
        await mary.send_message("said while in the direct tab")
        await until(pilot, lambda: said(app, "<Mary> said while in the direct tab"))
        assert not any(UNREAD in row for row in rows(app))  # the direct tab shown has none
        await pilot.press("f3")
        await until(pilot, lambda: app.tabs.active == "line")
        shown = rows(app)
        marker = next(n for n, row in enumerate(shown) if UNREAD in row)
        assert "said while in the direct tab" in shown[marker + 1]


def test_day_rule_and_unread_marker_on_screen(snap_compare):
    async def feed_across_days(pilot) -> None:
        await feed(pilot)
        pilot.app.post_message(events.AppBlur())
        await pilot.pause()
        pilot.app.post_message(message(len(EVENTS) + 1, MARY, "good morning, a new day", -0.7))
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=(100, 30), run_before=feed_across_days)
